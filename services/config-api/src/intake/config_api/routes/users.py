"""/api/v1/users: the people issues can be assigned to."""

from __future__ import annotations

from intake.config_api.reference_data import USERS
from intake.config_api.routes.reference import reference_router
from intake.config_api.schemas import User, UserCreate, UserUpdate

router = reference_router("/users", "users", USERS, UserCreate, UserUpdate, User)
