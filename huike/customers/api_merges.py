"""API endpoints of merges: the merge history, undoing a merge, and the review queue of pairs
that may be one person. Merging two customers is POST /customers/merge (huike.customers.api,
registered before /customers/{id}). Thin, as huike.customers.api."""

import uuid

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Query, Router, Status

from huike.accounts.api_gateway import request_actor
from huike.core.errors import InvalidInputError
from huike.core.pagination import Page, PageOut, PageQuery, paginate
from huike.customers import merging, selectors
from huike.customers.access import access_merge, access_merge_candidate
from huike.customers.api_schemas import CandidateAcceptIn, MergeCandidateOut, MergeOut
from huike.customers.models import CustomerMerge, MergeCandidate

router = Router()

NEWEST_FIRST = ("-created_at", "-id")


# --- merges -----------------------------------------------------------------------------------
@router.get("/merges", response=PageOut[MergeOut], tags=["Merges"], summary="Merge history")
def merge_list(request: HttpRequest, page: Query[PageQuery]) -> Page[CustomerMerge]:
    """Merges into customers the caller may see, newest first (undone ones too)."""
    actor = request_actor(request)
    merges = selectors.merge_history(actor)
    return paginate(merges, cursor=page.cursor, limit=page.limit, ordering=NEWEST_FIRST)


@router.get("/merges/{merge_id}", response=MergeOut, tags=["Merges"], summary="Get a merge")
def merge_detail(request: HttpRequest, merge_id: uuid.UUID) -> CustomerMerge:
    return access_merge(request_actor(request), merge_id)


@router.post("/merges/{merge_id}/undo", response=MergeOut, tags=["Merges"], summary="Undo a merge")
def merge_undo(request: HttpRequest, merge_id: uuid.UUID) -> CustomerMerge:
    """Restore both customers exactly, with the events that reached the absorbed customer's
    identities since. A merge undone already, or whose survivor was merged again since, is a
    409 (undo the newer merge first)."""
    actor = request_actor(request)
    actor.require("customers.merge")
    merge = access_merge(actor, merge_id)
    merging.customer_unmerge(actor=actor, merge=merge)
    return access_merge(actor, merge_id)


@router.get(
    "/merge-candidates",
    response=PageOut[MergeCandidateOut],
    tags=["Merges"],
    summary="The review queue: pairs that may be one person",
)
def merge_candidate_list(request: HttpRequest, page: Query[PageQuery]) -> Page[MergeCandidate]:
    actor = request_actor(request)
    candidates = selectors.merge_candidates_open(actor)
    return paginate(candidates, cursor=page.cursor, limit=page.limit, ordering=NEWEST_FIRST)


@router.post(
    "/merge-candidates/{candidate_id}/accept",
    response={201: MergeOut},
    tags=["Merges"],
    summary="Merge a suggested pair",
)
def merge_candidate_accept(
    request: HttpRequest, candidate_id: uuid.UUID, payload: CandidateAcceptIn
) -> Status[CustomerMerge]:
    """Merge the pair; the older customer survives unless `survivor_id` names the other."""
    actor = request_actor(request)
    actor.require("customers.merge")
    candidate = access_merge_candidate(actor, candidate_id)
    survivor = None
    if payload.survivor_id is not None:
        pair = {customer.public_id: customer for customer in (candidate.first, candidate.second)}
        survivor = pair.get(payload.survivor_id)
        if survivor is None:
            raise InvalidInputError(_("Choose one of the two customers."), field="survivor_id")
    merge = merging.merge_candidate_accept(actor=actor, candidate=candidate, survivor=survivor)
    return Status(201, access_merge(actor, merge.public_id))


@router.post(
    "/merge-candidates/{candidate_id}/dismiss",
    response=MergeCandidateOut,
    tags=["Merges"],
    summary="Not the same person",
)
def merge_candidate_dismiss(request: HttpRequest, candidate_id: uuid.UUID) -> MergeCandidate:
    """Dismiss the suggestion; identity resolution never suggests this pair again."""
    actor = request_actor(request)
    actor.require("customers.merge")
    candidate = access_merge_candidate(actor, candidate_id)
    return merging.merge_candidate_dismiss(actor=actor, candidate=candidate)
