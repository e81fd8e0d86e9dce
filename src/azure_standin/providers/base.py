"""What every resource type of the stand-in has in common: `Kind`, the hooks Resource Manager
(arm/manager.py) calls for a type's PUT, GET view, actions, children and DELETE."""

import copy

from ..errors import ArmError
from ..ids import norm_location


class Kind:
    type = ""
    api_versions = ()
    tracked = True

    def put(self, mgr, ident, rid, body, old, g):
        raise NotImplementedError

    def view(self, _mgr, rec):
        return copy.deepcopy(rec["body"])

    def request_shape(self, mgr, rec):
        return self.view(mgr, rec)

    def after_put(self, mgr, rec, old):
        pass

    def action(self, mgr, rec, name, req):
        raise ArmError(
            404 if req.method == "GET" else 400,
            "InvalidResourceType" if req.method == "GET" else "InvalidAction",
            f"The resource type or action '{name}' is not supported for '{self.type}'.",
        )

    def implicit(self, _mgr, _ident, _rid):
        return None

    def children(self, mgr, parent_rec, child_type):
        with mgr.lock:
            return [
                mgr.view(r)
                for r in mgr.res.values()
                if r["type"].lower() == child_type.lower()
                and r["id"].lower().startswith(parent_rec["id"].lower() + "/")
            ]

    def delete(self, mgr, rec):
        pass

    def location(self, body, _g):
        loc = norm_location(body.get("location"))
        if not loc:
            raise ArmError(400, "LocationRequired", "The location property is required for this definition.")
        return loc

    def common(self, rid, name, body, loc):
        out = {"id": rid, "name": name, "type": self.type}
        if self.tracked:
            out["location"] = loc
            out["tags"] = body.get("tags") or {}
        return out
