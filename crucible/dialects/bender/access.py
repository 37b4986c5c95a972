"""Who may do what (spec §4.1): an experiment's participants are its owner and its shared_with users."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from crucible.core.accounts import User
from crucible.dialects.bender.errors import forbidden, not_found
from crucible.dialects.bender.fields import canonical_uuid
from crucible.dialects.bender.models import BenderAlgo, BenderExperiment, BenderShare, BenderTrial


def is_participant(session: Session, experiment: BenderExperiment, user: User) -> bool:
    if experiment.owner_id == user.id:
        return True
    share = session.get(BenderShare, (experiment.id, user.id))
    return share is not None


def shared_user_ids(session: Session, experiment_id: str) -> list[int]:
    return list(
        session.scalars(select(BenderShare.user_id).where(BenderShare.experiment_id == experiment_id))
    )


def get_experiment(session: Session, experiment_id: str, *, for_update: bool = False) -> BenderExperiment:
    """The experiment with this path id, or 404 (also for ids that are not UUIDs)."""
    key = canonical_uuid(experiment_id)
    if key is None:
        raise not_found()
    query = select(BenderExperiment).where(BenderExperiment.id == key)
    if for_update:
        query = query.with_for_update()
    experiment = session.scalar(query)
    if experiment is None:
        raise not_found()
    return experiment


def get_algo(session: Session, algo_id: str, *, for_update: bool = False) -> BenderAlgo:
    key = canonical_uuid(algo_id)
    if key is None:
        raise not_found()
    query = select(BenderAlgo).where(BenderAlgo.id == key)
    if for_update:
        query = query.with_for_update()
    algo = session.scalar(query)
    if algo is None:
        raise not_found()
    return algo


def get_trial(session: Session, trial_id: str) -> BenderTrial:
    key = canonical_uuid(trial_id)
    trial = session.get(BenderTrial, key) if key else None
    if trial is None:
        raise not_found()
    return trial


def can_see_algo(session: Session, algo: BenderAlgo, user: User) -> bool:
    if algo.owner_id == user.id:
        return True
    experiment = session.get(BenderExperiment, algo.experiment_id)
    return experiment is not None and is_participant(session, experiment, user)


def require_algo_writer(session: Session, algo: BenderAlgo, user: User) -> BenderExperiment:
    """Updating an algo, suggesting and adding trials: the algo's owner, while still a participant."""
    experiment = session.get(BenderExperiment, algo.experiment_id)
    if algo.owner_id != user.id or experiment is None or not is_participant(session, experiment, user):
        raise forbidden()
    return experiment
