"""worker.py as a real process on a real Redis: queued scans run and log their job id."""

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT, add_folder, copy_sample


def _env(data_dir: Path, redis_url: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIDLIB_")}
    env.update({"VIDLIB_DATA_DIR": str(data_dir), "VIDLIB_REDIS_URL": redis_url})
    return env


def test_burst_worker_runs_the_initial_scan(make_app, tmp_path, library, sample_videos, redis_url):
    app = make_app(REDIS_URL=redis_url)
    copy_sample(sample_videos, "mp4", library)
    copy_sample(sample_videos, "corrupt", library)
    add_folder(app, library)
    data_dir = Path(app.config["DATA_DIR"])

    result = subprocess.run([sys.executable, "worker.py", "--burst"], cwd=ROOT, env=_env(data_dir, redis_url), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr

    db = app.extensions["vidlib"].db
    assert db.execute("SELECT COUNT(*) FROM videos WHERE missing = 0").fetchone()[0] == 1
    assert db.execute("SELECT COUNT(*) FROM scan_errors").fetchone()[0] == 1
    log_text = (data_dir / "logs" / "worker.log").read_text()
    assert "[job scan-folder-1]" in log_text and "indexed" in log_text
    assert "cannot index" in log_text


def test_rescan_endpoint_and_worker_share_one_job(make_app, library, sample_videos, redis_url):
    app = make_app(REDIS_URL=redis_url)
    client = app.test_client()
    folder = client.post("/api/folders", json={"path": str(library)}).get_json()
    assert folder["scan_job"] == f"scan-folder-{folder['id']}"
    again = client.post("/api/rescan", json={"folder_id": folder["id"]})
    assert again.status_code == 202
    assert again.get_json()["jobs"] == [folder["scan_job"]]
    queue = app.extensions["vidlib"].queue("scan")
    assert queue.count == 1

    copy_sample(sample_videos, "webm", library)
    env = _env(Path(app.config["DATA_DIR"]), redis_url)
    result = subprocess.run([sys.executable, "worker.py", "--burst", "--no-initial-scan"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert queue.count == 0
    listed = client.get(f"/api/folders/{folder['id']}").get_json()
    assert listed["video_count"] == 1 and listed["last_scan_at"]
    # Finished: the same work can be asked for again.
    assert client.post("/api/rescan", json={}).status_code == 202
    assert queue.count == 1
