"""Profiles: the expected design, as layered YAML validated by a pydantic schema."""

from .loader import LoadedProfile, ProfileError, load_profile
from .schema import Profile

__all__ = ["LoadedProfile", "Profile", "ProfileError", "load_profile"]
