"""`CurrentUser`: the verified, provisioned caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from queueit.core.deps import Uow, VerifiedClaims
from queueit.users import service
from queueit.users.models import User


async def get_current_user(uow: Uow, claims: VerifiedClaims) -> User:
    return await service.current_user(uow, claims=claims)


CurrentUser = Annotated[User, Depends(get_current_user)]
