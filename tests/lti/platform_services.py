"""The test platform's LTI Advantage services, on lti1p3platform's service classes (which check
the tool's access tokens): Assignment and Grade Services (the line items container with
filters and `Link: rel="next"` pages, and scores) and Names and Role Provisioning Services
(the membership container with `rel="next"` pages and a `rel="differences"` link)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from flask import Flask, jsonify, request
from lti1p3platform.lineitem import TLineItem
from lti1p3platform.membership import Context
from lti1p3platform.request import Request as PlatformRequest
from lti1p3platform.request import TRequest
from lti1p3platform.score import TScore, UpdateScoreStatus
from lti1p3platform.service_connector import (
    AssignmentsGradesService,
    NamesRoleProvisioningService,
    TPage,
)

if TYPE_CHECKING:
    from tests.lti.platform import Lms


class DictRequest(PlatformRequest):
    def build_metadata(self, request: Any) -> TRequest:
        result: TRequest = request
        return result


class Gradebook(AssignmentsGradesService):
    """The platform's AGS endpoint: scores land in `Lms.scores`."""

    def __init__(self, lms: Lms, req: PlatformRequest) -> None:
        super().__init__(req, lms.conf(), lms.lineitems_url, None)
        self.lms = lms

    def update_score(self, line_item_id: str, score: TScore) -> UpdateScoreStatus:
        self.lms.scores.append((line_item_id, dict(score)))
        return UpdateScoreStatus.SUCCESS

    def find_lineitems(
        self,
        page: Any = 1,
        limit: Any = None,
        line_item_id: str | None = None,
        resource_link_id: str | None = None,
        resource_id: str | None = None,
        tag: str | None = None,
    ) -> TPage:
        """A page of the line items matching the filters (AGS 2.0 §3.2.5)."""
        wanted = {"resourceLinkId": resource_link_id, "resourceId": resource_id, "tag": tag}
        found = [
            item
            for item in self.lms.line_items
            if all(value is None or item.get(key) == value for key, value in wanted.items())
        ]
        size = int(limit or len(found) or 1)
        start = (int(page) - 1) * size
        return {"content": found[start : start + size], "has_next": start + size < len(found)}

    def find_lineitem(self, line_item_id: str) -> TLineItem:
        raise NotImplementedError

    def create_lineitem(self, creation_data: TLineItem) -> TLineItem:
        item: TLineItem = {**creation_data}  # type: ignore[typeddict-item]
        item["id"] = self.lms.lineitem_url(str(len(self.lms.line_items) + 100))
        self.lms.line_items.append(item)
        return item

    def update_lineitem(self, update_data: TLineItem) -> TLineItem:
        raise NotImplementedError

    def delete_lineitem(self, line_item_id: str) -> None:
        raise NotImplementedError

    def get_results(self, *args: Any, **kwargs: Any) -> TPage:
        raise NotImplementedError


class Roster(NamesRoleProvisioningService):
    """The platform's NRPS endpoint over `Lms.members`: pages of `Lms.nrps_page_size`, and
    `since=<version>` (a differences link) lists only the members changed after it."""

    def __init__(self, lms: Lms, req: PlatformRequest) -> None:
        super().__init__(req, lms.conf(), lms.memberships_url)
        self.lms = lms

    def get_member_data_page(
        self, page: Any = 1, limit: Any = None, role: Any = None, since: Any = None
    ) -> TPage:
        changed_after = int(since) if since is not None else -1
        listed = [
            member
            for version, member in self.lms.members.values()
            if version > changed_after and (since is not None or member["status"] != "Deleted")
        ]
        size = self.lms.nrps_page_size or len(listed) or 1
        start = (int(page) - 1) * size
        return {"content": listed[start : start + size], "has_next": start + size < len(listed)}

    def get_context_by_id(self) -> Context:
        return Context(id="course-1", label="DL101", title="Deep learning 101")


def _flask_request() -> PlatformRequest:
    return DictRequest(
        {
            "method": request.method,
            "form_data": request.form.to_dict(),
            "get_data": request.args.to_dict(),
            "headers": request.headers,
            "content_type": request.content_type,
            "path": request.path,
            "json": request.get_json(force=True, silent=True),
        }
    )


def add_service_routes(app: Flask, lms: Lms) -> None:
    @app.post("/lineitems/<item>/scores")
    def scores(item: str) -> Any:
        if lms.fail_next_scores > 0:
            lms.fail_next_scores -= 1
            return jsonify({"error": "temporarily unavailable"}), 503
        gradebook = Gradebook(lms, _flask_request())
        response = gradebook.handle_resp(gradebook.handle_update_score, line_item_id=item)
        return jsonify({"status": response.message}), response.code

    @app.route("/lineitems", methods=["GET", "POST"])
    def lineitems() -> Any:
        """The container: a JSON array, further pages through `Link: <...>; rel="next"`."""
        lms.line_item_requests.append(f"{request.method} {request.full_path.rstrip('?')}")
        gradebook = Gradebook(lms, _flask_request())
        if request.method == "POST":
            created = gradebook.handle_resp(gradebook.handle_create_lineitem)
            return jsonify(created.result or {"error": created.message}), created.code
        args = request.args.to_dict()
        page = int(args.pop("page", 1))
        limit = lms.line_items_page_size
        filters = args if lms.line_items_filtered else {}
        found = gradebook.find_lineitems(page=page, limit=limit, **filters)
        headers = {}
        if found["has_next"]:
            query = urlencode({**args, "page": page + 1})
            headers["Link"] = f'<{lms.lineitems_url}?{query}>; rel="next"'
        if not gradebook.platform_config.validate_token(
            request.headers.get("Authorization", "").removeprefix("Bearer "),
            gradebook.allowed_scopes,
        ):
            return jsonify({"error": "invalid token"}), 401
        return jsonify(found["content"]), 200, headers

    @app.get("/memberships")
    def memberships() -> Any:
        """The membership container; `Link` gives the next page and the differences link."""
        lms.nrps_requests.append(f"GET {request.full_path.rstrip('?')}")
        if lms.fail_next_memberships > 0:
            lms.fail_next_memberships -= 1
            return jsonify({"error": "temporarily unavailable"}), 503
        args = request.args.to_dict()
        page = int(args.get("page", 1))
        roster = Roster(lms, _flask_request())
        answer = roster.handle_resp(roster.handle_get_members)
        if answer.code != 200:
            return jsonify({"error": answer.message}), answer.code
        links = [f'<{lms.memberships_url}?since={lms.roster_version}>; rel="differences"']
        if roster.get_member_data_page(page=page, since=args.get("since"))["has_next"]:
            links.append(
                f'<{lms.memberships_url}?{urlencode({**args, "page": page + 1})}>; rel="next"'
            )
        return jsonify(answer.result), 200, {"Link": ", ".join(links)}
