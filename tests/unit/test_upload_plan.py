"""What `localdev.cli upload` takes, under which keys, and what it refuses: decided before any
upload, so a mistake never costs a half-done upload or a silently overwritten image."""

import os

import pytest

from localdev.cli_errors import CliError
from localdev.stack import PROJECT_ROOT
from localdev.upload_plan import normalized_prefix, plan_upload

SAMPLES = PROJECT_ROOT / "samples"

JPEG = (SAMPLES / "coffee.jpg").read_bytes()
PNG = (SAMPLES / "cameraman.png").read_bytes()


def write(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def keys(plan):
    return sorted(item.key for item in plan.uploads)


def test_keys_keep_the_path_below_the_folder_given_so_duplicate_names_do_not_collide(tmp_path):
    write(tmp_path / "dup/a/photo.jpg", JPEG)
    write(tmp_path / "dup/b/photo.jpg", JPEG)
    write(tmp_path / "dup/b/deeper/Shot 1.PNG", PNG)

    plan = plan_upload([str(tmp_path / "dup")])
    plan.check()
    assert keys(plan) == ["a/photo.jpg", "b/deeper/Shot 1.PNG", "b/photo.jpg"]
    assert plan.skipped == []


@pytest.mark.parametrize("prefix", ["2026", "2026/", "/2026/", " 2026 "])
def test_the_prefix_is_joined_with_one_slash(tmp_path, prefix):
    write(tmp_path / "in/photo.jpg", JPEG)
    assert keys(plan_upload([str(tmp_path / "in")], prefix)) == ["2026/photo.jpg"]


def test_no_prefix_and_a_file_given_directly_keeps_its_name(tmp_path):
    photo = write(tmp_path / "x/y/photo.jpg", JPEG)
    assert normalized_prefix("") == ""
    assert keys(plan_upload([str(photo)])) == ["photo.jpg"]


def test_two_folders_with_the_same_file_name_are_refused_before_any_upload(tmp_path):
    write(tmp_path / "dup/a/photo.jpg", JPEG)
    write(tmp_path / "dup/b/photo.jpg", JPEG)
    plan = plan_upload([str(tmp_path / "dup/a"), str(tmp_path / "dup/b")])
    with pytest.raises(CliError) as error:
        plan.check()
    message = str(error.value)
    assert "\n" not in message
    assert "photo.jpg from" in message and "dup/a/photo.jpg" in message
    assert "dup/b/photo.jpg" in message and "nothing was uploaded" in message


def test_the_same_file_named_twice_is_one_upload_not_a_collision(tmp_path):
    photo = write(tmp_path / "photo.jpg", JPEG)
    plan = plan_upload([str(photo), str(tmp_path / "photo.jpg"), str(tmp_path)])
    plan.check()
    assert keys(plan) == ["photo.jpg"]


def test_every_file_left_out_is_listed_with_its_reason(tmp_path):
    write(tmp_path / "in/good.jpg", JPEG)
    write(tmp_path / "in/notes.txt", b"hello")
    write(tmp_path / "in/empty.jpg", b"")
    write(tmp_path / "in/fake.jpg", b"this is text, not a JPEG")
    big = write(tmp_path / "in/huge.png", PNG[:8])
    with big.open("r+b") as file:  # sparse: 15 MB + 1 byte without writing them
        file.truncate(15 * 1024 * 1024 + 1)

    plan = plan_upload([str(tmp_path / "in")])
    plan.check()
    assert keys(plan) == ["good.jpg"]
    reasons = {item.path.name: item.reason for item in plan.skipped}
    assert reasons == {
        "empty.jpg": "empty file (0 bytes)",
        "fake.jpg": "not a JPEG or PNG image (by content), whatever its name says",
        "huge.png": "larger than Rekognition's 15728640 byte S3 object limit",
        "notes.txt": "not a JPEG or PNG file (by extension)",
    }


def test_a_missing_path_is_an_error_naming_it(tmp_path):
    write(tmp_path / "photo.jpg", JPEG)
    plan = plan_upload([str(tmp_path / "photo.jpg"), str(tmp_path / "nope")])
    with pytest.raises(CliError, match=r"no such file or folder: .*nope$"):
        plan.check()


def test_nothing_to_upload_is_an_error_that_counts_the_skipped(tmp_path):
    write(tmp_path / "in/notes.txt", b"hello")
    os.mkfifo(tmp_path / "in/not-a-file")  # neither listed nor uploaded: not a regular file
    plan = plan_upload([str(tmp_path / "in")])
    with pytest.raises(CliError, match=r"no JPEG or PNG images to upload \(1 file\(s\) skipped"):
        plan.check()
    (tmp_path / "empty").mkdir()
    with pytest.raises(CliError, match=r"^no JPEG or PNG images to upload$"):
        plan_upload([str(tmp_path / "empty")]).check()
