"""HTTP routes of the identification domain."""

from fastapi import APIRouter

router = APIRouter()
