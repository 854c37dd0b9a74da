"""The folder watcher end to end: real watchdog observers on temp folders, a real Redis, real
``worker.py`` processes running the jobs, and the real ``flask --app vidlib watch`` command.

Most tests run a :class:`Watcher` in a thread of the test process (so its state can be read
and its observers stopped) beside one or two ``python worker.py`` subprocesses. Every wait
polls a condition (``wait_until``); the only pauses are those of a file being written slowly,
which is the scenario under test. Jobs are counted from RQ's registries on the real Redis and
from the run lines the workers log (RQ keeps one record per job id).
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from rq.job import Job

from tests.conftest import ROOT, add_folder, copy_sample, distinct_copy, scan, stop_process, wait_until
from vidlib.db import now_iso, write_transaction
from vidlib.jobs import folder_lock
from vidlib.library.hashing import oshash
from vidlib.media import MEDIA_KINDS, store
from vidlib.watcher import Watcher, inotify_watch_limit, mount_fs_type, needs_polling

FAST = {
    "WATCH_QUIET_SECONDS": 0.6,
    "WATCH_TICK_SECONDS": 0.1,
    "WATCH_FOLDER_SYNC_SECONDS": 0.5,
    "WATCH_POLL_INTERVAL": 0.5,
    "INDEX_DEBOUNCE_SECONDS": 3600,  # the similarity index rebuild stays scheduled, never runs
    "MEDIA_AUTO_QUEUE": False,
}
RUN_LINE = re.compile(r"\[job (scan-changes-\S+)\] vidlib\.jobs: changes in folder \d+: (.*)")


def _env(data_dir: str, redis_url: str, settings: dict) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIDLIB_")}
    env.update({"VIDLIB_DATA_DIR": data_dir, "VIDLIB_REDIS_URL": redis_url, "VIDLIB_ENV_FILE": os.devnull})
    for name, value in settings.items():
        env[f"VIDLIB_{name}"] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return env


class Stack:
    """An app on a temp data dir, an in-process watcher thread and real worker processes."""

    def __init__(self, make_app, redis_url: str, tmp_path: Path, settings: dict):
        self.settings = {**FAST, **settings}
        self.app = make_app(REDIS_URL=redis_url, **self.settings)
        self.st = self.app.extensions["vidlib"]
        self.client = self.app.test_client()
        self.redis_url = redis_url
        self.tmp_path = tmp_path
        self.workers: list[subprocess.Popen] = []
        self.watcher: Watcher | None = None
        self.thread: threading.Thread | None = None

    @property
    def db(self):
        return self.st.db

    def env(self) -> dict:
        return _env(self.app.config["DATA_DIR"], self.redis_url, self.settings)

    def start(self, workers: int = 1) -> "Stack":
        """Start the workers and the watcher; return once every folder's first scan ran."""
        for n in range(workers):
            log_file = open(self.tmp_path / f"worker-{n}.out", "wb")
            self.workers.append(
                subprocess.Popen([sys.executable, "worker.py", "--no-initial-scan"], cwd=ROOT, env=self.env(), stdout=log_file, stderr=subprocess.STDOUT)
            )
            log_file.close()
        self.watcher = Watcher(self.st)

        def run() -> None:
            with self.app.app_context():  # jobs.enqueue finds this app's state
                self.watcher.run()

        self.thread = threading.Thread(target=run, name="watcher", daemon=True)
        self.thread.start()
        for (folder_id,) in self.db.execute("SELECT id FROM folders").fetchall():
            wait_until(lambda: f"scan-folder-{folder_id}" in self.finished_ids(), timeout=30, message=f"first scan of folder {folder_id}")
        return self

    def stop(self) -> None:
        if self.watcher is not None:
            self.watcher.stop()
            self.thread.join(timeout=15)
            assert not self.thread.is_alive(), "watcher thread did not stop"
            self.watcher = None
        for proc in self.workers:
            proc.terminate()
        for proc in self.workers:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.workers = []

    def worker_output(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-3000:] for p in sorted(self.tmp_path.glob("worker-*.out")))

    # -- jobs, from RQ's registries ---------------------------------------------------------
    def finished_ids(self) -> list[str]:
        return self.st.queue("scan").finished_job_registry.get_job_ids()

    def executions(self) -> list[tuple[str, str]]:
        """``(job id, stats summary)`` of every ``scan_changes`` run, from the workers' log.

        RQ keeps one record per job id (a finished job is replaced when the same work is queued
        again), so runs are counted where each one logs its summary.
        """
        log_file = Path(self.app.config["DATA_DIR"]) / "logs" / "worker.log"
        text = log_file.read_text(errors="replace") if log_file.exists() else ""
        return RUN_LINE.findall(text)

    def change_jobs(self) -> list[Job]:
        """Every watcher job (``scan-changes-*``) that ran, checking that none ran twice."""
        ids = [i for i in self.finished_ids() if i.startswith("scan-changes-")]
        ran = [job_id for job_id, _ in self.executions()]
        assert sorted(ran) == sorted(ids), f"runs {ran} != finished jobs {ids}"
        return [j for j in Job.fetch_many(ids, connection=self.st.redis) if j is not None]

    def idle(self) -> bool:
        """Nothing pending in the watcher and nothing queued, scheduled or running on the scan queue."""
        w, queue = self.watcher, self.st.queue("scan")
        return (
            not w.pending
            and not w.moves
            and not w.dir_events
            and queue.count == 0
            and queue.started_job_registry.count == 0
            and queue.scheduled_job_registry.count == 0
        )

    def assert_no_failed_jobs(self) -> None:
        for name in ("scan", "media", "index"):
            failed = self.st.queue(name).failed_job_registry.get_job_ids()
            assert not failed, f"failed {name} jobs: {failed}\n{self.worker_output()}"

    # -- library -------------------------------------------------------------------------------
    def video(self, path) -> dict | None:
        row = self.db.execute("SELECT * FROM videos WHERE path = ? AND missing = 0", [str(path)]).fetchone()
        return dict(row) if row else None

    def by_hash(self, video_hash: str) -> dict:
        return dict(self.db.execute("SELECT * FROM videos WHERE hash = ?", [video_hash]).fetchone())

    def count(self, sql: str, *params) -> int:
        return self.db.execute(sql, params).fetchone()[0]

    def health(self) -> dict:
        response = self.client.get("/api/watcher/health")
        assert response.status_code == 200
        return response.get_json()

    def folder_health(self, folder_id: int) -> dict | None:
        return next((f for f in self.health()["folders"] if f["folder_id"] == folder_id), None)


@pytest.fixture()
def watch_stack(make_app, redis_url, tmp_path):
    """Factory: ``watch_stack(*folders, start=True, workers=1, **settings)`` -> a :class:`Stack`."""
    stacks: list[Stack] = []

    def factory(*folders: Path, start: bool = True, workers: int = 1, **settings) -> Stack:
        stack = Stack(make_app, redis_url, tmp_path, settings)
        stacks.append(stack)
        for folder in folders:
            add_folder(stack.app, folder)
        if start:
            stack.start(workers)
        return stack

    yield factory
    for stack in stacks:
        stack.stop()


def _only_folder(stack: Stack) -> int:
    return stack.db.execute("SELECT id FROM folders").fetchone()[0]


# -- create, copy slowly ---------------------------------------------------------------------


def test_created_video_is_scanned_once(watch_stack, library, sample_videos):
    s = watch_stack(library)
    folder_id = _only_folder(s)
    path = copy_sample(sample_videos, "mp4", library)

    row = wait_until(lambda: s.video(path), timeout=20, message="the new video to be indexed")
    wait_until(s.idle, timeout=10, message="the watcher and the scan queue to be idle")
    jobs = s.change_jobs()
    assert len(jobs) == 1
    assert jobs[0].args == (folder_id, [str(path)], [])
    assert jobs[0].return_value()["new"] == 1
    assert row["hash"] == oshash(path)[0]
    assert s.count("SELECT COUNT(*) FROM videos") == 1
    s.assert_no_failed_jobs()


def test_slow_copy_into_a_new_folder_is_scanned_once_after_it_completes(watch_stack, library, sample_videos):
    """A video written in chunks over ~4 s (pauses shorter than the 1 s quiet period), into a
    folder created just before (as a folder copy does): one scan, after the copy, right hash."""
    s = watch_stack(library, WATCH_QUIET_SECONDS=1.0)
    folder_id = _only_folder(s)
    data = sample_videos["large"].read_bytes()
    assert len(data) > 256 * 1024  # head and tail chunks of the oshash both change while copying
    target = library / "Incoming" / "Slow Copy.mp4"
    target.parent.mkdir()
    pending_seen = set()
    chunks = 12
    step = -(-len(data) // chunks)
    with open(target, "wb") as fh:
        for start in range(0, len(data), step):
            fh.write(data[start : start + step])
            fh.flush()
            pending_seen.add(s.folder_health(folder_id)["pending"])
            time.sleep(0.35)  # the copy is slow: this pause is the scenario, not a synchronisation

    wait_until(lambda: s.video(target), timeout=20, message="the copied video to be indexed")
    wait_until(s.idle, timeout=10, message="idle")
    row = s.video(target)
    assert row["hash"] == oshash(target)[0] and row["size"] == len(data)
    assert 1 in pending_seen  # the health report showed the file as pending during the copy
    jobs = s.change_jobs()
    assert [j.args[1] for j in jobs] == [[str(target)]], "scanned more than once, or before the copy completed"
    assert jobs[0].return_value()["new"] == 1
    assert s.count("SELECT COUNT(*) FROM videos") == 1  # no row for a partial file, missing or not
    assert s.count("SELECT COUNT(*) FROM scan_errors") == 0
    assert s.folder_health(folder_id) is not None
    s.assert_no_failed_jobs()


# -- renames, moves, deletes -----------------------------------------------------------------


def _mark_media_done(s: Stack, video_hash: str) -> None:
    """Preview media of every kind done (status row and marker file), as after generation."""
    directory = store.video_media_dir(s.st.config, video_hash)
    for kind in MEDIA_KINDS:
        marker = os.path.join(directory, store.MARKER_FILES[kind])
        if kind == "preview_thumbnails":
            os.makedirs(marker, exist_ok=True)
            Path(marker, "00.jpg").write_bytes(b"jpeg")
        else:
            os.makedirs(directory, exist_ok=True)
            Path(marker).write_bytes(b"media")
        store.set_status(s.db, video_hash, kind, "done", progress=1.0)


def test_renamed_and_moved_files_and_folders_keep_their_video(watch_stack, library, sample_videos):
    clip = copy_sample(sample_videos, "mp4", library)
    other = copy_sample(sample_videos, "webm", library / "Trips")
    (library / "Archive").mkdir()
    s = watch_stack(library, start=False, MEDIA_AUTO_QUEUE=True)
    scan(s.app)  # indexed before watching: nothing new for the worker, no media queued
    clip_hash, other_hash = s.video(clip)["hash"], s.video(other)["hash"]
    with write_transaction(s.db):
        for video_hash in (clip_hash, other_hash):
            s.db.execute("INSERT INTO favourites (hash, added_at) VALUES (?, ?)", [video_hash, now_iso()])
    for video_hash in (clip_hash, other_hash):
        _mark_media_done(s, video_hash)
    s.start()

    # A file renamed in place, then moved to another folder.
    renamed = library / "Renamed Beach Day.mp4"
    clip.rename(renamed)
    wait_until(lambda: s.video(renamed), timeout=15, message="the rename to be followed")
    moved = library / "Archive" / renamed.name
    renamed.rename(moved)
    wait_until(lambda: s.video(moved), timeout=15, message="the move to be followed")
    # A whole folder renamed.
    (library / "Trips").rename(library / "Holidays")
    other_moved = library / "Holidays" / other.name
    wait_until(lambda: s.video(other_moved), timeout=15, message="the folder rename to be followed")
    wait_until(s.idle, timeout=10, message="idle")

    for video_hash, path in ((clip_hash, moved), (other_hash, other_moved)):
        row = s.by_hash(video_hash)
        assert row["path"] == str(path) and not row["missing"]
        assert s.count("SELECT COUNT(*) FROM favourites WHERE hash = ?", video_hash) == 1
        assert s.count("SELECT COUNT(*) FROM media WHERE hash = ? AND status = 'done'", video_hash) == len(MEDIA_KINDS)
    assert s.count("SELECT COUNT(*) FROM videos") == 2
    results = [j.return_value() for j in s.change_jobs()]
    assert sum(r["moved"] for r in results) >= 3
    assert all(r["hashed_bytes"] == 0 and r["new"] == 0 and r["restored"] == 0 for r in results), results
    # Nothing regenerated: no media job queued or run.
    media = s.st.queue("media")
    assert media.count == 0 and not media.finished_job_registry.get_job_ids() and not media.started_job_registry.get_job_ids()
    s.assert_no_failed_jobs()


def test_deleted_video_is_missing_and_restored_with_its_favourite(watch_stack, library, sample_videos):
    path = copy_sample(sample_videos, "mkv", library)
    s = watch_stack(library)
    video_hash = s.video(path)["hash"]  # indexed by the first scan of the folder
    with write_transaction(s.db):
        s.db.execute("INSERT INTO favourites (hash, added_at) VALUES (?, ?)", [video_hash, now_iso()])

    path.unlink()
    wait_until(lambda: s.by_hash(video_hash)["missing"] == 1, timeout=15, message="the video to be marked missing")
    copy_sample(sample_videos, "mkv", library)
    wait_until(lambda: s.by_hash(video_hash)["missing"] == 0, timeout=15, message="the video to be restored")
    wait_until(s.idle, timeout=10, message="idle")

    assert s.by_hash(video_hash)["path"] == str(path)
    assert s.count("SELECT COUNT(*) FROM videos") == 1
    assert s.count("SELECT COUNT(*) FROM favourites WHERE hash = ?", video_hash) == 1
    # The delete and the restore are the same work (scan this path): one job id, run twice.
    runs = s.executions()
    assert len(runs) == 2 and runs[0][0] == runs[1][0]
    assert "1 now missing" in runs[0][1] and "1 restored" in runs[1][1]
    s.assert_no_failed_jobs()


# -- folders added and removed on the dashboard -----------------------------------------------


def test_folder_added_and_removed_through_the_api_while_watching(watch_stack, library, tmp_path, sample_videos):
    s = watch_stack(library)
    second = tmp_path / "second"
    second.mkdir()
    response = s.client.post("/api/folders", json={"path": str(second)})
    assert response.status_code == 201
    folder = response.get_json()

    added_at = time.monotonic()
    watched = wait_until(lambda: s.folder_health(folder["id"]), timeout=5, message="the new folder in the health report")
    assert time.monotonic() - added_at < 5
    assert watched["mode"] == "events" and watched["path"] == folder["path"]
    path = copy_sample(sample_videos, "webm", second)
    row = wait_until(lambda: s.video(path), timeout=15, message="a video in the new folder to be indexed")
    assert row["folder_id"] == folder["id"]

    watch = s.watcher.folders[folder["id"]]
    assert s.client.delete(f"/api/folders/{folder['id']}").status_code == 204
    # Unwatched: dropped from the watcher and its observer stopped.
    wait_until(lambda: folder["id"] not in s.watcher.folders and watch.observer is None, timeout=5, message="the folder to be unwatched")
    wait_until(lambda: s.folder_health(folder["id"]) is None, timeout=5, message="the folder to leave the health report")
    assert s.by_hash(row["hash"])["missing"] == 1
    assert [f["folder_id"] for f in s.health()["folders"]] == [_only_folder(s)]


# -- bursts and races ------------------------------------------------------------------------


def test_burst_of_a_thousand_files_is_indexed_once(watch_stack, library, tiny_videos):
    s = watch_stack(library, WATCH_QUIET_SECONDS=1.0)
    for n in range(1000):
        distinct_copy(tiny_videos["base"], library / f"batch {n // 100}" / f"clip {n:04d}.mp4", n)

    wait_until(lambda: s.count("SELECT COUNT(*) FROM videos") >= 1000, timeout=60, interval=0.2, message="1,000 videos")
    wait_until(s.idle, timeout=15, message="idle")
    jobs = s.change_jobs()
    paths = [p for j in jobs for p in j.args[1]]
    results = [j.return_value() for j in jobs]
    assert len({j.id for j in jobs}) == len(jobs)
    assert len(paths) == 1000 and len(set(paths)) == 1000  # every file queued exactly once
    assert all(len(j.args[1]) <= 200 for j in jobs)
    assert sum(r["files"] for r in results) == 1000 and sum(r["new"] for r in results) == 1000
    assert s.count("SELECT COUNT(*) FROM videos") == 1000
    assert s.count("SELECT COUNT(*) FROM videos WHERE missing = 0") == 1000
    assert s.count("SELECT COUNT(*) FROM scan_errors") == 0
    s.assert_no_failed_jobs()


def test_watcher_and_manual_rescan_racing_on_two_workers(watch_stack, library, tiny_videos):
    s = watch_stack(library, workers=2)
    folder_id = _only_folder(s)
    scan_queue = s.st.queue("scan")
    # The test holds the folder's scan lock until both workers are inside their job (the
    # manual rescan and the watcher's), so both contend for it the moment it is released.
    with s.app.app_context(), folder_lock(folder_id, wait_seconds=5) as lock:
        assert lock.acquired
        for n in range(50):
            distinct_copy(tiny_videos["base"], library / f"race {n:02d}.mp4", n)
        assert s.client.post("/api/rescan", json={"folder_id": folder_id}).status_code == 202
        wait_until(lambda: scan_queue.started_job_registry.count == 2, timeout=15, message="both workers in a scan job")
        running = set(scan_queue.started_job_registry.get_job_ids())
    assert f"scan-folder-{folder_id}" in running and any(i.startswith("scan-changes-") for i in running)

    wait_until(lambda: s.count("SELECT COUNT(*) FROM videos") >= 50, timeout=30, message="50 videos")
    wait_until(s.idle, timeout=15, message="idle")
    assert s.count("SELECT COUNT(*) FROM videos") == 50
    assert s.count("SELECT COUNT(DISTINCT path) FROM videos WHERE missing = 0") == 50
    assert s.count("SELECT COUNT(*) FROM duplicates") == 0 and s.count("SELECT COUNT(*) FROM scan_errors") == 0
    jobs = s.change_jobs()
    paths = [p for j in jobs for p in j.args[1]]
    assert len(paths) == 50 and len(set(paths)) == 50  # the watcher queued every file once
    folder_scan = Job.fetch(f"scan-folder-{folder_id}", connection=s.st.redis).return_value()
    assert folder_scan["new"] + sum(j.return_value()["new"] for j in jobs) == 50
    s.assert_no_failed_jobs()


# -- polling -----------------------------------------------------------------------------------


def test_polling_helpers():
    assert needs_polling("nfs4") and needs_polling("nfs") and needs_polling("cifs")
    assert needs_polling("fuse.sshfs") and needs_polling("fuseblk")
    assert not needs_polling("ext4") and not needs_polling("tmpfs") and not needs_polling("")
    assert mount_fs_type("/proc") == "proc"
    assert mount_fs_type("/proc/self/status") == "proc"
    assert mount_fs_type("/") != ""


def test_forced_polling_finds_the_same_changes(watch_stack, library, sample_videos):
    s = watch_stack(library)
    folder_id = _only_folder(s)
    response = s.client.patch(f"/api/folders/{folder_id}", json={"force_polling": True})
    assert response.status_code == 200 and response.get_json()["force_polling"] is True
    report = wait_until(lambda: (f := s.folder_health(folder_id)) and f["mode"] == "polling" and f, timeout=10, message="polling mode")
    assert report["reason"] == "forced on the dashboard" and report["watches"] == 0 and report["watch_limit"] is None

    path = copy_sample(sample_videos, "mp4", library)
    video_hash = wait_until(lambda: s.video(path), timeout=15, message="a polled new file to be indexed")["hash"]
    renamed = library / "Polled Rename.mp4"
    path.rename(renamed)
    wait_until(lambda: s.video(renamed), timeout=15, message="a polled rename to be followed")
    renamed.unlink()
    wait_until(lambda: s.by_hash(video_hash)["missing"] == 1, timeout=15, message="a polled delete")
    wait_until(s.idle, timeout=10, message="idle")

    results = [j.return_value() for j in s.change_jobs()]
    assert sum(r["new"] for r in results) == 1 and sum(r["moved"] for r in results) == 1 and sum(r["missing"] for r in results) == 1
    assert s.count("SELECT COUNT(*) FROM videos") == 1

    assert s.client.patch(f"/api/folders/{folder_id}", json={"force_polling": False}).status_code == 200
    wait_until(lambda: (f := s.folder_health(folder_id)) and f["mode"] == "events", timeout=10, message="back to events")


# -- what is ignored, sidecars -----------------------------------------------------------------


def test_ignored_names_and_partial_downloads(watch_stack, library, tmp_path, sample_videos, caplog):
    caplog.set_level(logging.DEBUG, logger="vidlib.watcher")
    media_dir = library / "previews"  # a media dir moved inside a library folder after it was added
    media_dir.mkdir()
    (library / ".cache").mkdir()
    s = watch_stack(start=False, MEDIA_DIR=str(media_dir))
    with write_transaction(s.db):
        s.db.execute("INSERT INTO folders (path, added_at) VALUES (?, ?)", [str(library), now_iso()])
    s.start()

    part = library / "Download.mp4.part"
    part.write_bytes(sample_videos["mp4"].read_bytes())
    crdownload = library / "Browser.mp4.crdownload"
    crdownload.write_bytes(sample_videos["webm"].read_bytes())
    ignored = [
        copy_sample(sample_videos, "mkv", library, ".hidden.mkv"),
        copy_sample(sample_videos, "short", library / ".cache", "cached.mp4"),
        copy_sample(sample_videos, "noaudio", media_dir, "teaser.mp4"),
    ]
    (library / "notes.txt").write_text("not a video")
    final_part, final_crdownload = library / "Download.mp4", library / "Browser.webm"
    part.rename(final_part)
    crdownload.rename(final_crdownload)

    wait_until(lambda: s.video(final_part) and s.video(final_crdownload), timeout=15, message="the finished downloads")
    wait_until(s.idle, timeout=10, message="idle")
    assert s.count("SELECT COUNT(*) FROM videos") == 2
    paths = [p for j in s.change_jobs() for p in j.args[1]]
    assert sorted(paths) == sorted([str(final_part), str(final_crdownload)])  # each indexed once, nothing else

    debug = [r.getMessage() for r in caplog.records if r.name == "vidlib.watcher" and r.levelno == logging.DEBUG]

    def logged(*parts: str) -> bool:
        return any(all(p in m for p in parts) for m in debug)

    assert logged(str(part), "partial-download or temporary name")
    assert logged(str(crdownload), "partial-download or temporary name")
    assert logged(str(ignored[0]), "hidden or temporary name")
    assert logged(str(ignored[1]), "inside a hidden folder")
    assert logged(str(ignored[2]), "inside vidlib's data or media dir")
    assert logged(str(library / "notes.txt"), "not a video")
    assert logged(f"rename {part} -> {final_part}", "a new video name")
    assert logged(f"rename {crdownload} -> {final_crdownload}", "a new video name")
    assert logged(str(final_part), "queued for scanning")


def test_sidecar_change_updates_metadata(watch_stack, library, sample_videos):
    video = copy_sample(sample_videos, "mkv", library)
    nfo = video.with_suffix(".nfo")
    nfo.write_text("<movie><title>First Title</title></movie>")
    s = watch_stack(library)
    video_hash = s.video(video)["hash"]
    assert s.by_hash(video_hash)["title"] == "First Title"

    nfo.write_text("<movie><title>Second Title</title><studio>Edited Studio</studio></movie>")
    wait_until(lambda: s.by_hash(video_hash)["title"] == "Second Title", timeout=15, message="the new title")
    video.with_suffix(".json").write_text(json.dumps({"title": "From JSON"}))
    wait_until(lambda: s.by_hash(video_hash)["title"] == "From JSON", timeout=15, message="the JSON sidecar's title")
    wait_until(s.idle, timeout=10, message="idle")
    studio = s.db.execute("SELECT s.name FROM videos v JOIN studios s ON s.id = v.studio_id WHERE v.hash = ?", [video_hash]).fetchone()
    assert studio[0] == "Edited Studio"
    # Two sidecar changes, each a metadata-only rescan of the video (the same job id, run twice).
    runs = s.executions()
    assert len(runs) == 2 and runs[0][0] == runs[1][0]
    assert all(summary.startswith("1 files: 0 new, 1 updated") for _, summary in runs)
    last = Job.fetch(runs[-1][0], connection=s.st.redis).return_value()
    assert last["hashed_bytes"] == 0 and last["updated"] == 1
    assert s.count("SELECT COUNT(*) FROM videos") == 1


# -- health ------------------------------------------------------------------------------------


def test_health_report_and_dead_observer_restart(watch_stack, library, sample_videos, caplog):
    caplog.set_level(logging.INFO, logger="vidlib.watcher")
    (library / "a" / "b").mkdir(parents=True)
    s = watch_stack(library, start=False)
    folder_id = _only_folder(s)
    assert s.health() == {"running": False, "folders": []}
    s.start()

    report = wait_until(lambda: (h := s.health())["running"] and h, timeout=10, message="a health report")
    assert report["pid"] == os.getpid() and report["inotify_watch_limit"] == inotify_watch_limit()
    folder = report["folders"][0]
    assert folder["mode"] == "events" and folder["reason"].startswith("inotify")
    assert folder["watches"] == 3 and folder["watch_limit"] == inotify_watch_limit()
    assert folder["pending"] == 0 and folder["restarts"] == 0 and folder["errors"] == []

    path = copy_sample(sample_videos, "mp4", library / "a")
    wait_until(lambda: s.video(path), timeout=15, message="indexing")
    folder = wait_until(lambda: (f := s.folder_health(folder_id)) and f["events"] > 0 and f["last_event_at"] and f, timeout=5, message="events in the report")

    # A dead observer is restarted, and the reason logged and reported.
    watch = s.watcher.folders[folder_id]
    dead = watch.observer
    dead.stop()
    wait_until(lambda: watch.restarts == 1 and (new := watch.observer) not in (None, dead) and new.is_alive(), timeout=10, message="a restart")
    assert any(r.levelno == logging.ERROR and "observer stopped" in r.getMessage() and str(library) in r.getMessage() for r in caplog.records)
    folder = wait_until(lambda: (f := s.folder_health(folder_id)) and f["restarts"] == 1 and f, timeout=5, message="the restart in the report")
    assert folder["mode"] == "events" and any("restarting watch: observer stopped" in e for e in folder["errors"])
    after = copy_sample(sample_videos, "webm", library / "a" / "b")
    wait_until(lambda: s.video(after), timeout=15, message="indexing after the restart")
    assert watch.restarts == 1

    s.stop()
    assert s.health()["running"] is False


# -- the real command ----------------------------------------------------------------------------


def test_flask_watch_command(make_app, redis_url, library, sample_videos, tmp_path):
    app = make_app(REDIS_URL=redis_url)
    folder_id = add_folder(app, library)
    client = app.test_client()
    env = _env(app.config["DATA_DIR"], redis_url, {**FAST, "LOG_LEVEL": "DEBUG"})
    flask = str(Path(sys.executable).with_name("flask"))
    procs = [
        subprocess.Popen([sys.executable, "worker.py", "--no-initial-scan"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        subprocess.Popen([flask, "--app", "vidlib", "watch"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
    ]
    worker, watch = procs
    try:
        def report():
            data = client.get("/api/watcher/health").get_json()
            return data if data["running"] and data["folders"] and data["folders"][0]["mode"] == "events" else None

        health = wait_until(report, timeout=30, message="the watch command's health report")
        assert health["pid"] == watch.pid
        scans = app.extensions["vidlib"].queue("scan").finished_job_registry
        wait_until(lambda: f"scan-folder-{folder_id}" in scans.get_job_ids(), timeout=30, message="the first scan of the folder")
        path = copy_sample(sample_videos, "mp4", library)
        db = app.extensions["vidlib"].db
        wait_until(lambda: db.execute("SELECT 1 FROM videos WHERE path = ?", [str(path)]).fetchone(), timeout=30, message="indexing")

        watch.send_signal(signal.SIGTERM)
        assert watch.wait(timeout=15) == 0
        assert client.get("/api/watcher/health").get_json()["running"] is False
        log_text = (Path(app.config["DATA_DIR"]) / "logs" / "watcher.log").read_text()
        assert f"watching {library} (events" in log_text
        assert f"{path}: waiting for it to settle" in log_text  # DEBUG decisions
        assert "queued scan-changes-" in log_text and "watcher stopped" in log_text
        assert db.execute("SELECT folder_id FROM videos").fetchone()[0] == folder_id
    finally:
        for proc in procs:
            stop_process(proc)


def test_watcher_log_lines_carry_their_folder(watch_stack, library, sample_videos, caplog):
    from vidlib.logs import FolderFilter

    caplog.set_level(logging.INFO, logger="vidlib.watcher")
    caplog.handler.addFilter(FolderFilter())  # what configure_logging(config, "watcher") installs
    s = watch_stack(library)
    copy_sample(sample_videos, "mp4", library, "Stamped.mp4")
    wait_until(lambda: s.video(library / "Stamped.mp4"), timeout=15, message="the new file")
    wait_until(s.idle, timeout=10, message="idle")
    by_message = {r.getMessage(): r.folder for r in caplog.records if r.name == "vidlib.watcher"}
    watching = [folder for message, folder in by_message.items() if message.startswith(f"watching {library}")]
    queued = [folder for message, folder in by_message.items() if message.startswith("queued scan-changes-")]
    assert watching == [str(library)] and queued and set(queued) == {str(library)}, by_message
    assert all(r.folder == "-" for r in caplog.records if r.getMessage().startswith("watcher started"))
