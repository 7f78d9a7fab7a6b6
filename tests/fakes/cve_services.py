"""A small CVE Services on 127.0.0.1 for tests: the endpoints, headers, payloads and error bodies
vulndesk uses, shaped after CVEProject/cve-services (2.x, ``/api`` prefix):

- authentication by the ``CVE-API-ORG`` / ``CVE-API-USER`` / ``CVE-API-KEY`` headers: a missing
  header is ``400 BAD_REQUEST`` ("<header> header field required."), a wrong org, user or key
  ``401 UNAUTHORIZED``;
- ``GET org/<short_name>`` (own organisation only, else ``403 NOT_SAME_ORG_OR_SECRETARIAT``) and
  ``GET org/<short_name>/id_quota``;
- ``POST cve-id?amount=&cve_year=&short_name=[&batch_type=]``: ``{"cve_ids": [...], "meta":
  {"remaining_quota": n}}``; over quota ``403 EXCEEDED_ID_QUOTA`` with ``details``; reserving for
  another organisation ``403 ORG_CANNOT_RESERVE_FOR_OTHER``;
- ``GET cve-id?state=&cve_id_year=&time_reserved.gt=&time_reserved.lt=&page=``: the organisation's
  IDs (never ``AVAILABLE`` ones), filtered like the real controller, each with ``requested_by``
  (CNA short name and user) and ``reserved``; ``{"cve_ids": [...]}``, with ``totalCount``,
  ``itemsPerPage``, ``pageCount``, ``currentPage``, ``prevPage`` and ``nextPage`` added when there
  is more than one page (``page_size``, 500 like the real paginator);
- ``GET cve-id/<id>``; ``POST``/``PUT cve/<id>/cna`` with ``{"cnaContainer": {...}}``, checked
  against the CNA published-container schema (``400 INVALID_JSON_SCHEMA``), ownership
  (``403 ORG_DOES_NOT_OWN_ID``), ``400 CVE_RECORD_EXISTS`` / ``403 CVE_RECORD_DNE``; answers
  ``{"message": "<id> record was successfully created.", "created": <full record>}``;
  ``POST``/``PUT cve/<id>/reject`` with ``{"cnaContainer": {"rejectedReasons": [...], ...}}``, checked
  against the CNA rejected-container schema: POST only for an ID without a record (else ``400
  CVE_RECORD_EXISTS``), PUT only for one with a record (else ``403 CVE_RECORD_DNE``);
  ``GET cve/<id>``;
- ``fail_next(status, count=…)`` answers the next requests (of one method and path, if given)
  with a server error first (JSON ``SERVICE_NOT_AVAILABLE`` like the real error handler, or an
  HTML page like a proxy would); ``after_processing=True`` lets the request take effect first
  (a gateway that lost the answer); ``skip=n`` lets n matching requests through first.

Requests are kept in ``requests`` (method, path, query, body, org and user headers, and whether
the key matched), never the key itself.
"""

import json
import re
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from cvelib.cve_api import CveRecord, CveRecordValidationError

CVE_ID = re.compile(r"^CVE-[0-9]{4}-[0-9]{4,}$")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _parse_time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass
class Refusal:
    """An error answer, told apart from a checked value."""

    response: tuple


@dataclass
class FakeOrg:
    short_name: str
    name: str
    id_quota: int
    users: dict[str, str]  # username -> API key
    uuid: str = field(default_factory=lambda: str(uuid.uuid4()))


@dataclass
class Failure:
    status: int
    body: bytes
    content_type: str
    path_contains: str
    after_processing: bool  # the request takes effect, then the answer is lost (a gateway error)
    method: str = ""
    skip: int = 0  # matching requests answered normally before this failure applies


class FakeCveServices:
    def __init__(self, *, first_number: int = 10001, page_size: int = 500):
        self.orgs: dict[str, FakeOrg] = {}
        self.cve_ids: dict[str, dict] = {}
        self.records: dict[str, dict] = {}
        self.requests: list[dict] = []
        self.failures: list[Failure] = []
        self._next_number = first_number
        self.page_size = page_size
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- set-up ----------------------------------------------------------------------------------

    def add_cna(self, short_name: str, *, user: str, api_key: str, id_quota: int = 10, name: str = "") -> FakeOrg:
        org = FakeOrg(short_name=short_name, name=name or f"{short_name} CNA", id_quota=id_quota,
                      users={user: api_key})
        self.orgs[short_name] = org
        return org

    def fail_next(self, status: int = 503, *, count: int = 1, html: bool = False, path_contains: str = "",
                  after_processing: bool = False, method: str = "", skip: int = 0) -> None:
        if html:
            body, content_type = b"<html><body><h1>502 Bad Gateway</h1></body></html>", "text/html"
        else:
            body = json.dumps({"error": "SERVICE_NOT_AVAILABLE",
                               "message": "This service appears to not be available."}).encode()
            content_type = "application/json"
        self.failures += [Failure(status, body, content_type, path_contains, after_processing, method.upper(),
                                  skip if n == 0 else 0) for n in range(count)]

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/api/"

    def start(self) -> "FakeCveServices":
        fake = self

        class Handler(_Handler):
            service = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-cve-services", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def calls(self, method: str = "", path_contains: str = "") -> list[dict]:
        return [r for r in self.requests if (not method or r["method"] == method) and path_contains in r["path"]]

    # --- the API -----------------------------------------------------------------------------------

    def handle(self, method: str, path: str, query: dict, headers, body: bytes) -> tuple[int, bytes, str, dict]:
        with self._lock:
            org_name, user = headers.get("CVE-API-ORG"), headers.get("CVE-API-USER")
            key = headers.get("CVE-API-KEY")
            org = self.orgs.get(org_name or "")
            key_ok = bool(org and user in org.users and org.users[user] == key)
            try:
                parsed = json.loads(body) if body else None
            except ValueError:
                parsed = None
            self.requests.append({"method": method, "path": path, "query": query, "body": parsed,
                                  "org": org_name, "user": user, "key_matched": key_ok})
            failure = next((f for f in self.failures
                            if f.path_contains in path and f.method in {"", method}), None)
            if failure is not None and failure.skip:
                failure.skip -= 1
                failure = None
            if failure is not None:
                self.failures.remove(failure)
                if failure.after_processing:
                    self._answer(method, path, query, headers, parsed, org, key_ok)
                return failure.status, failure.body, failure.content_type, {}
            return self._answer(method, path, query, headers, parsed, org, key_ok)

    def _answer(self, method, path, query, headers, parsed, org, key_ok):
        if not path.startswith("/api/"):
            return self._error(404, "NOT_FOUND", "404: resource not found")
        route = path[len("/api/"):]
        if route == "health-check" and method == "GET":
            return self._json(200, {})
        for header in ("CVE-API-ORG", "CVE-API-USER", "CVE-API-KEY"):
            if not headers.get(header):
                return self._error(400, "BAD_REQUEST", f"{header} header field required.")
        if not key_ok:
            return self._error(401, "UNAUTHORIZED", "Unauthorized")
        return self._route(method, route, query, parsed, org, headers.get("CVE-API-USER"))

    def _route(self, method, route, query, body, org: FakeOrg, user: str):
        if match := re.fullmatch(r"org/([^/]+)", route):
            if method != "GET":
                return self._error(404, "NOT_FOUND", "404: resource not found")
            if match[1] != org.short_name:
                return self._error(403, "NOT_SAME_ORG_OR_SECRETARIAT",
                                   "This information can only be viewed by the users of the same organization or "
                                   "the Secretariat.")
            return self._json(200, {"name": org.name, "short_name": org.short_name, "UUID": org.uuid,
                                    "policies": {"id_quota": org.id_quota},
                                    "authority": {"active_roles": ["CNA"]},
                                    "time": {"created": "2024-01-01T00:00:00.000Z", "modified": _now()}})
        if match := re.fullmatch(r"org/([^/]+)/id_quota", route):
            if match[1] != org.short_name:
                return self._error(403, "NOT_SAME_ORG_OR_SECRETARIAT", "Not the same organization.")
            reserved = self._reserved(org)
            return self._json(200, {"id_quota": org.id_quota, "total_reserved": reserved,
                                    "available": max(org.id_quota - reserved, 0)})
        if route == "cve-id" and method == "POST":
            return self._reserve(query, org, user)
        if route == "cve-id" and method == "GET":
            return self._list(query, org)
        if (match := re.fullmatch(r"cve-id/([^/]+)", route)) and method == "GET":
            item = self.cve_ids.get(match[1])
            if item is None or (item["owning_cna"] != org.short_name and item["state"] == "RESERVED"):
                return self._error(404, "NOT_FOUND", f"{match[1]} not found")
            return self._json(200, item)
        if (match := re.fullmatch(r"cve/([^/]+)/cna", route)) and method in {"POST", "PUT"}:
            return self._cna_container(method, match[1], body, org)
        if (match := re.fullmatch(r"cve/([^/]+)/reject", route)) and method in {"POST", "PUT"}:
            return self._reject(method, match[1], body, org)
        if (match := re.fullmatch(r"cve/([^/]+)", route)) and method == "GET":
            record = self.records.get(match[1])
            if record is None:
                return self._error(404, "CVE_RECORD_DNE", "The cve record for the cve id does not exist.")
            return self._json(200, record)
        return self._error(404, "NOT_FOUND", "404: resource not found")

    def _list(self, query: dict, org: FakeOrg):
        state, year = query.get("state"), query.get("cve_id_year")
        if state == "AVAILABLE":
            return self._error(404, "NOT_FOUND", "No CVE IDs were found for the specified query parameters.")
        bounds = {}
        for name in ("time_reserved.lt", "time_reserved.gt"):
            if name in query:
                try:
                    bounds[name] = _parse_time(query[name])
                except ValueError:
                    return self._error(400, "BAD_INPUT", "Parameters were invalid")
        rows = []
        for item in self.cve_ids.values():
            if item["owning_cna"] != org.short_name or (state and item["state"] != state) \
                    or (year and item["cve_year"] != year):
                continue
            reserved = _parse_time(item["reserved"])
            if ("time_reserved.lt" in bounds and not reserved < bounds["time_reserved.lt"]) or \
                    ("time_reserved.gt" in bounds and not reserved > bounds["time_reserved.gt"]):
                continue
            rows.append(item)
        page = int(query["page"]) if str(query.get("page", "")).isdigit() and int(query["page"]) > 0 else 1
        pages = max(1, -(-len(rows) // self.page_size))
        body = {"cve_ids": rows[(page - 1) * self.page_size: page * self.page_size]}
        if pages > 1:
            body |= {"totalCount": len(rows), "itemsPerPage": self.page_size, "pageCount": pages,
                     "currentPage": page, "prevPage": page - 1 if page > 1 else None,
                     "nextPage": page + 1 if page < pages else None}
        return self._json(200, body)

    def _reserved(self, org: FakeOrg) -> int:
        return sum(1 for item in self.cve_ids.values() if item["owning_cna"] == org.short_name
                   and item["state"] == "RESERVED")

    def _reserve(self, query: dict, org: FakeOrg, user: str):
        short_name, year, amount = query.get("short_name"), query.get("cve_year"), query.get("amount")
        if short_name != org.short_name:
            return self._error(403, "ORG_CANNOT_RESERVE_FOR_OTHER",
                               "The organization designated by the CVE-API-ORG header is not allowed to reserve IDs "
                               "for the organization specified by the short_name query parameter.")
        if not year or not year.isdigit():
            return self._error(400, "NO_YEAR", "The cve_year query parameter is required [1999-present+1].")
        if not amount or not amount.isdigit() or int(amount) <= 0:
            return self._error(400, "NO_AMOUNT", "The amount query parameter is required and needs to be above 0.")
        amount_n = int(amount)
        if amount_n > 1 and not query.get("batch_type"):
            return self._error(400, "NO_BATCH_TYPE", "The batch_type query parameter must be specified when "
                                                     "reserving more than one CVE ID.")
        reserved = self._reserved(org)
        available = max(org.id_quota - reserved, 0)
        if amount_n > available:
            body = {"error": "EXCEEDED_ID_QUOTA",
                    "message": "The amount requested would exceed the organization's ID quota. No more IDs can be "
                               "reserved until the number of IDs in the Reserved state goes below the ID quota or the "
                               "ID quota is raised.",
                    "details": {"id_quota": org.id_quota, "total_reserved": reserved, "available": available}}
            return self._json(403, body)
        items = []
        for _ in range(amount_n):
            cve_id = f"CVE-{year}-{self._next_number}"
            self._next_number += 1
            item = {"cve_id": cve_id, "cve_year": year, "state": "RESERVED", "owning_cna": org.short_name,
                    "requested_by": {"cna": org.short_name, "user": user}, "reserved": _now(),
                    "time": {"created": _now(), "modified": _now()}}
            self.cve_ids[cve_id] = item
            items.append(item)
        remaining = available - amount_n
        return self._json(200, {"cve_ids": items, "meta": {"remaining_quota": remaining}},
                          {"CVE-API-REMAINING-QUOTA": str(remaining)})

    def _checked_container(self, method: str, cve_id: str, body, org: FakeOrg, schema):
        """(container, id item, existing record) of a record write, or the Refusal CVE Services
        answers: bad input, schema failure, unknown or foreign ID, POST on a record that exists,
        PUT on one that does not."""
        if not CVE_ID.match(cve_id):
            return Refusal(self._error(400, "BAD_INPUT", "Parameters were invalid"))
        container = body.get("cnaContainer") if isinstance(body, dict) else None
        if not isinstance(container, dict):
            return Refusal(self._error(400, "BAD_INPUT", "Parameters were invalid"))
        try:
            CveRecord.validate(container, schema)
        except CveRecordValidationError as error:
            return Refusal(self._json(400, {"error": "INVALID_JSON_SCHEMA",
                                            "message": "CVE JSON schema validation FAILED.",
                                            "details": {"errors": [e.message for e in error.errors or []]}}))
        item = self.cve_ids.get(cve_id)
        if item is None:
            return Refusal(self._error(403, "CVEID_DNE", "The cve id does not exist."))
        if item["owning_cna"] != org.short_name:
            return Refusal(self._error(403, "ORG_DOES_NOT_OWN_ID", f"It appears that {org.short_name} does not own {cve_id}"))
        existing = self.records.get(cve_id)
        if method == "POST" and existing is not None:
            return Refusal(self._error(400, "CVE_RECORD_EXISTS", "The cve record for the cve id already exists."))
        if method == "PUT" and existing is None:
            return Refusal(self._error(403, "CVE_RECORD_DNE", "The cve record for the cve id does not exist."))
        return container, item, existing

    def _cna_container(self, method: str, cve_id: str, body, org: FakeOrg):
        checked = self._checked_container(method, cve_id, body, org, CveRecord.Schemas.CNA_PUBLISHED)
        if isinstance(checked, Refusal):
            return checked.response
        container, item, existing = checked
        now = _now()
        cna = dict(container)
        cna["providerMetadata"] = {**container["providerMetadata"], "shortName": org.short_name, "dateUpdated": now}
        record = {
            "dataType": "CVE_RECORD", "dataVersion": "5.1",
            "cveMetadata": {"cveId": cve_id, "assignerOrgId": org.uuid, "assignerShortName": org.short_name,
                            "state": "PUBLISHED", "dateReserved": item["reserved"],
                            "datePublished": existing["cveMetadata"]["datePublished"] if existing else now,
                            "dateUpdated": now},
            "containers": {"cna": cna},
        }
        self.records[cve_id] = record
        item["state"] = "PUBLISHED"
        if method == "POST":
            return self._json(200, {"message": f"{cve_id} record was successfully created.", "created": record})
        return self._json(200, {"message": f"{cve_id} record was successfully updated.", "updated": record})

    def _reject(self, method: str, cve_id: str, body, org: FakeOrg):
        """POST creates the rejected record of an ID that has none; PUT turns an existing record
        (published or rejected) into a rejected one."""
        checked = self._checked_container(method, cve_id, body, org, CveRecord.Schemas.CNA_REJECTED)
        if isinstance(checked, Refusal):
            return checked.response
        container, item, existing = checked
        now = _now()
        cna = {"providerMetadata": {**container["providerMetadata"], "shortName": org.short_name, "dateUpdated": now},
               "rejectedReasons": container["rejectedReasons"]}
        if "replacedBy" in container:
            cna["replacedBy"] = container["replacedBy"]
        metadata = {"cveId": cve_id, "assignerOrgId": org.uuid, "assignerShortName": org.short_name,
                    "state": "REJECTED", "dateReserved": item["reserved"], "dateRejected": now, "dateUpdated": now}
        if existing is not None and existing["cveMetadata"].get("datePublished"):
            metadata["datePublished"] = existing["cveMetadata"]["datePublished"]
        record = {"dataType": "CVE_RECORD", "dataVersion": "5.1", "cveMetadata": metadata, "containers": {"cna": cna}}
        self.records[cve_id] = record
        item["state"] = "REJECTED"
        if method == "POST":
            return self._json(200, {"message": f"{cve_id} record was successfully created.", "created": record})
        return self._json(200, {"message": f"{cve_id} record was successfully updated.", "updated": record})

    @staticmethod
    def _json(status: int, payload, headers: dict | None = None):
        return status, json.dumps(payload).encode(), "application/json", headers or {}

    def _error(self, status: int, code: str, message: str):
        return self._json(status, {"error": code, "message": message})


class _Handler(BaseHTTPRequestHandler):
    service: FakeCveServices

    def _serve(self, method: str) -> None:
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        status, payload, content_type, extra = self.service.handle(method, parts.path, query, self.headers, body)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in extra.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self):  # noqa: N802 (http.server's names)
        self._serve("GET")

    def do_POST(self):  # noqa: N802
        self._serve("POST")

    def do_PUT(self):  # noqa: N802
        self._serve("PUT")

    def log_message(self, format, *args):  # noqa: A002 - keep test output quiet
        pass
