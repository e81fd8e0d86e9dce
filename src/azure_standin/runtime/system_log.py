"""A container app's system log (what `az containerapp logs show --type system` streams) and what the
environment sends to Log Analytics: ContainerAppSystemLogs_CL rows for every event and
ContainerAppConsoleLogs_CL rows for the console lines of replicas that are gone
(https://learn.microsoft.com/azure/container-apps/logging#system-logs,
https://learn.microsoft.com/azure/container-apps/log-monitoring).

Events are JSON lines in `<app dir>/system.jsonl`, shaped as the service streams them:
{"TimeStamp", "Type" (Normal|Warning), "ContainerAppName", "RevisionName", "ReplicaName", "Msg",
"Reason", "EventSource", "Count"}. Log Analytics rows go to `<state>/loganalytics/<table>.jsonl`
with the app's resource id (`_ResourceId`), so a workspace query sees the apps of the environments
that send their logs to it.
"""

import json
import threading
from datetime import datetime, timezone
from pathlib import Path

SYSTEM_TABLE = "ContainerAppSystemLogs_CL"
CONSOLE_TABLE = "ContainerAppConsoleLogs_CL"
_write_lock = threading.Lock()


def stamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def append_rows(la_dir: Path, table: str, rows: list[dict]) -> None:
    if not rows:
        return
    la_dir.mkdir(parents=True, exist_ok=True)
    with _write_lock, open(la_dir / f"{table}.jsonl", "a", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")


def read_rows(la_dir: Path, table: str) -> list[dict]:
    try:
        text = (la_dir / f"{table}.jsonl").read_text(encoding="utf-8")
    except OSError:
        return []
    return [json.loads(line) for line in text.splitlines() if line.strip()]


class SystemLog:
    def __init__(self, path: Path, la_dir: Path, app_id: str):
        self.path, self.la_dir, self.app_id = path, la_dir, app_id
        self.app_name = app_id.rstrip("/").rsplit("/", 1)[-1]

    def event(self, reason: str, msg: str, revision: str = "", replica: str = "", warning: bool = False) -> dict:
        ev = {
            "TimeStamp": stamp(),
            "Type": "Warning" if warning else "Normal",
            "ContainerAppName": self.app_name,
            "RevisionName": revision,
            "ReplicaName": replica,
            "Msg": msg,
            "Reason": reason,
            "EventSource": "ContainerAppController",
            "Count": 1,
        }
        with _write_lock, open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(ev) + "\n")
        append_rows(
            self.la_dir,
            SYSTEM_TABLE,
            [
                {
                    "TimeGenerated": ev["TimeStamp"],
                    "_ResourceId": self.app_id,
                    "ContainerAppName_s": self.app_name,
                    "RevisionName_s": revision,
                    "ReplicaName_s": replica,
                    "Log_s": msg,
                    "Reason_s": reason,
                    "Type_s": ev["Type"],
                    "EventSource_s": ev["EventSource"],
                    "Count_d": 1,
                }
            ],
        )
        return ev

    def events(self) -> list[dict]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except OSError:
            return []
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def console_gone(self, revision: str, replica: str, container: str, lines: list[str]) -> None:
        """The console lines of a replica that terminated: in Log Analytics only, as on Azure."""
        now = stamp()
        append_rows(
            self.la_dir,
            CONSOLE_TABLE,
            [
                {
                    "TimeGenerated": now,
                    "_ResourceId": self.app_id,
                    "ContainerAppName_s": self.app_name,
                    "RevisionName_s": revision,
                    "ContainerName_s": container,
                    "ContainerGroupName_s": replica,
                    "Stream_s": "stdout",
                    "Log_s": line,
                }
                for line in lines
            ],
        )
