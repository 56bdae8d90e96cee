"""/api/v1/organisations: the organisations issues can be assigned to."""

from __future__ import annotations

from intake.config_api.reference_data import ORGANISATIONS
from intake.config_api.routes.reference import reference_router
from intake.config_api.schemas import Organisation, OrganisationCreate, OrganisationUpdate

router = reference_router(
    "/organisations", "organisations", ORGANISATIONS, OrganisationCreate, OrganisationUpdate, Organisation
)
