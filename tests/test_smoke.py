from tests.conftest import add_folder, copy_sample, scan


def test_samples_scan_into_videos_and_errors(app, library, sample_videos):
    for key in sample_videos:
        copy_sample(sample_videos, key, library)
    add_folder(app, library)
    stats = scan(app)
    db = app.extensions["vidlib"].db
    assert stats.new == 9, stats.summary()
    assert stats.errors == 3
    reasons = {r["path"].rsplit("/", 1)[-1]: r["reason"] for r in db.execute("SELECT path, reason FROM scan_errors")}
    assert "empty" in reasons["empty.mkv"]
    assert set(reasons) == {"empty.mkv", "corrupt.mp4", "notes-not-a-video.avi"}
