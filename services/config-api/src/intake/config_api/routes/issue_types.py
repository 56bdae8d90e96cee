"""/api/v1/issue-types: the issue types issues get (a fresh install has `Support`)."""

from __future__ import annotations

from intake.config_api.reference_data import ISSUE_TYPES
from intake.config_api.routes.reference import reference_router
from intake.config_api.schemas import IssueType, IssueTypeCreate, IssueTypeUpdate

router = reference_router("/issue-types", "issue types", ISSUE_TYPES, IssueTypeCreate, IssueTypeUpdate, IssueType)
