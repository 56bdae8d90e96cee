"""Renders deploy/kubernetes the way `kustomize build` does, limited to the features it uses.

No kustomize binary comes from Debian (its kubectl 1.20 predates components) or PyPI, so the tests
render with this: `resources` (files and folders), `components`, `namespace`, `images` and `patches`
given as strategic-merge files by path. Anything else in a kustomization is refused, not ignored.
Where `kubectl kustomize` exists (the machine image has one), a test checks this renders the same.

The strategic merge covers what the patches here use: maps merge key by key, lists of maps with a
`name` (containers, env, ports, volumes) merge item by item on it (new items first), other lists are replaced, and a
null value deletes the key.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

Resource = dict[str, Any]

SUPPORTED_KEYS = {"apiVersion", "kind", "resources", "components", "namespace", "images", "patches"}
# Kinds that live outside namespaces, among those deploy/kubernetes uses.
CLUSTER_SCOPED = {"Namespace"}


class UnsupportedKustomization(Exception):
    """The kustomization uses a feature this renderer does not implement."""


def load_documents(path: Path) -> list[Resource]:
    with path.open() as file:
        return [document for document in yaml.safe_load_all(file) if document]


def identity(resource: Resource) -> tuple[str, str, str, str]:
    metadata = resource.get("metadata", {})
    return (resource["apiVersion"], resource["kind"], metadata.get("namespace", ""), metadata["name"])


def build(folder: Path) -> list[Resource]:
    """The resources the kustomization (or component) in `folder` produces."""
    return _apply(folder, [])


def _kustomization(folder: Path) -> Resource:
    config = load_documents(folder / "kustomization.yaml")[0]
    unknown = set(config) - SUPPORTED_KEYS
    if unknown:
        raise UnsupportedKustomization(f"{folder}: {sorted(unknown)} not implemented by tests/deploy/kustomize.py")
    return config


def _apply(folder: Path, accumulated: list[Resource]) -> list[Resource]:
    config = _kustomization(folder)
    resources = list(accumulated)
    for entry in config.get("resources", []):
        target = folder / entry
        resources += build(target) if target.is_dir() else load_documents(target)
    for entry in config.get("components", []):
        resources = _apply(folder / entry, resources)
    for patch in config.get("patches", []):
        if set(patch) != {"path"}:
            raise UnsupportedKustomization(f"{folder}: only strategic-merge patches by path are implemented")
        for document in load_documents(folder / patch["path"]):
            resources = _patched(resources, document)
    if "namespace" in config:
        resources = [_in_namespace(resource, config["namespace"]) for resource in resources]
    for image in config.get("images", []):
        resources = [_with_image(resource, image) for resource in resources]
    _refuse_duplicates(resources)
    return resources


def _patched(resources: list[Resource], patch: Resource) -> list[Resource]:
    matches = [
        index
        for index, resource in enumerate(resources)
        if resource["kind"] == patch["kind"] and resource["metadata"]["name"] == patch["metadata"]["name"]
    ]
    if len(matches) != 1:
        raise UnsupportedKustomization(f"patch for {patch['kind']}/{patch['metadata']['name']} matches {len(matches)}")
    index = matches[0]
    return [*resources[:index], strategic_merge(resources[index], patch), *resources[index + 1 :]]


def strategic_merge(base: Any, patch: Any) -> Any:
    if isinstance(base, dict) and isinstance(patch, dict):
        merged = dict(base)
        for key, value in patch.items():
            if value is None:
                merged.pop(key, None)
            elif key in merged:
                merged[key] = strategic_merge(merged[key], value)
            else:
                merged[key] = value
        return merged
    if isinstance(base, list) and isinstance(patch, list) and _all_named(base) and _all_named(patch):
        # As kustomize does: items new to the list come first, in the patch's order.
        patches = {item["name"]: item for item in patch}
        known = {item["name"] for item in base}
        merged = [strategic_merge(item, patches[item["name"]]) if item["name"] in patches else item for item in base]
        return [item for item in patch if item["name"] not in known] + merged
    return patch


def _all_named(items: Iterable[Any]) -> bool:
    return all(isinstance(item, dict) and "name" in item for item in items)


def _in_namespace(resource: Resource, namespace: str) -> Resource:
    if resource["kind"] in CLUSTER_SCOPED:
        return resource
    return {**resource, "metadata": {**resource["metadata"], "namespace": namespace}}


def _with_image(resource: Resource, image: Resource) -> Resource:
    if resource["kind"] != "Deployment":
        return resource
    pod = resource["spec"]["template"]["spec"]
    containers = [_container_with_image(container, image) for container in pod["containers"]]
    template = {**resource["spec"]["template"], "spec": {**pod, "containers": containers}}
    return {**resource, "spec": {**resource["spec"], "template": template}}


def _container_with_image(container: Resource, image: Resource) -> Resource:
    reference: str = container["image"]
    name, _, tag = reference.partition(":")
    if name != image["name"]:
        return container
    new = image.get("newName", name)
    if "digest" in image:
        return {**container, "image": f"{new}@{image['digest']}"}
    tag = image.get("newTag", tag)
    return {**container, "image": f"{new}:{tag}" if tag else new}


def _refuse_duplicates(resources: list[Resource]) -> None:
    seen: set[tuple[str, str, str, str]] = set()
    for resource in resources:
        key = identity(resource)
        if key in seen:
            raise UnsupportedKustomization(f"{key} is defined twice")
        seen.add(key)
