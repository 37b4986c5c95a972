"""Imports every table so Alembic and tests see the whole schema in one MetaData."""

from crucible.core import accounts, metrics, scheduler  # noqa: F401
from crucible.core.db import Base
from crucible.dialects.bender import models as bender_models  # noqa: F401
from crucible.dialects.bonsai import models as bonsai_models  # noqa: F401
from crucible.dialects.morpheo import models as morpheo_models  # noqa: F401
from crucible.dialects.polyaxon import models as polyaxon_models  # noqa: F401
from crucible.dialects.streamingbandit import models as streamingbandit_models  # noqa: F401

metadata = Base.metadata
