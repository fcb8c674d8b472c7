"""HTTP routes of the crosscheck domain."""

from fastapi import APIRouter

router = APIRouter()
