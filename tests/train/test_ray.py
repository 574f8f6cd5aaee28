"""``--launcher ray``: a fleet's members as tasks on a real local Ray instance, with the in-process guarantees."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import BF16_REL, MICRO, assert_same_models, relative_differences
from train.config import load_config
from train.record import FleetRecord, Status, model_dir_name

pytestmark = pytest.mark.ray  # a real Ray instance: the full set only (pytest -m "")
ray = pytest.importorskip("ray", reason="the Ray tests need the [ray] extra: pip install -e '.[ray]'")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def local_ray():
    """A local Ray instance with 2 CPUs: two workers, one member each."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


def test_ray_fleet_equals_in_process_fleet(local_ray, micro_fleet, nltk_data, cache_dir, tmp_path):
    from train.ray_launcher import train_fleet_ray

    record = train_fleet_ray(load_config(None, MICRO), tmp_path / "ray", nltk_data, cache_dir, progress=False)
    assert [m.status for m in record.models] == [Status.DONE, Status.DONE]
    assert FleetRecord.read(tmp_path / "ray").models[1].status == Status.DONE
    assert_same_models(micro_fleet[0], tmp_path / "ray")


def test_ray_fleet_in_bf16_equals_in_process_to_the_stated_tolerance(local_ray, micro_fleet_bf16, nltk_data,
                                                                    cache_dir, tmp_path):
    """A Ray worker runs one thread where this process runs two; in bf16 the sums round otherwise, so the weights
    agree to BF16_REL (docs/training.md) and the held-out losses to 0.01 nats, not bit for bit as in fp32."""
    from train.ray_launcher import train_fleet_ray

    record = train_fleet_ray(load_config(None, {**MICRO, "precision": "bf16-mixed"}), tmp_path / "ray", nltk_data,
                             cache_dir, progress=False)
    differences = relative_differences(micro_fleet_bf16[0], tmp_path / "ray")
    assert max(differences.values()) < BF16_REL, max(differences.items(), key=lambda kv: kv[1])
    for here, there in zip(micro_fleet_bf16[1].models, record.models):
        assert abs(here.final_val_loss - there.final_val_loss) < 0.01


def test_a_failing_member_is_marked_while_the_others_finish(local_ray, nltk_data, cache_dir, tmp_path):
    from train.ray_launcher import train_fleet_ray

    out = tmp_path / "f"
    out.mkdir(parents=True)
    (out / "model_01").write_text("a file where the model's folder goes")  # its task cannot write its checkpoints
    cfg = load_config(None, {**MICRO, "members_per_step": 1})
    record = train_fleet_ray(cfg, out, nltk_data, cache_dir, progress=False)
    m0, m1 = record.models
    assert m0.status == Status.DONE
    assert m1.status == Status.ERROR and m1.error


def test_two_drivers_on_one_fleet_are_refused(local_ray, micro_fleet, nltk_data, cache_dir):
    from train.fleet import FleetLocked, fleet_lock
    from train.ray_launcher import train_fleet_ray

    with fleet_lock(micro_fleet[0]), pytest.raises(FleetLocked, match="another train fleet run"):
        train_fleet_ray(load_config(None, MICRO), micro_fleet[0], nltk_data, cache_dir, progress=False)


def test_the_default_path_never_imports_ray():
    code = ("import sys, train.__main__, train.fleet; from analyze.__main__ import build_parser; build_parser(); "
            "assert 'ray' not in sys.modules, 'ray imported'")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


@pytest.mark.slow
def test_killed_ray_driver_resumes_to_the_same_weights(micro_fleet, nltk_data, cache_dir, tmp_path):
    """kill -9 of the driver and its local Ray instance mid-run; the rerun (a new driver in this process, which
    starts a new local instance) resumes each member from its own last.ckpt and ends with the in-process weights."""
    from train.ray_launcher import train_fleet_ray

    out = tmp_path / "killed"
    overrides = [f"{k}={v}" for k, v in {**MICRO, "checkpoint_every_n_steps": 2}.items()]
    cmd = [sys.executable, "-m", "train", "fleet", "--launcher", "ray", "--out", str(out), "--no-progress",
           "--nltk-data", str(nltk_data), "--cache-dir", str(cache_dir), *overrides]
    ray.shutdown()  # the module's instance, if an earlier test started it: `ray stop --force` below ends them all
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 240
    while not all((out / model_dir_name(i) / "last.ckpt").exists() for i in range(2)):
        assert proc.poll() is None and time.time() < deadline, "run ended before writing checkpoints"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    subprocess.run([str(Path(sys.executable).parent / "ray"), "stop", "--force"], capture_output=True)  # orphaned workers
    assert [m.status for m in FleetRecord.read(out).models] == [Status.RUNNING, Status.RUNNING]
    train_fleet_ray(load_config(None, {**MICRO, "checkpoint_every_n_steps": 2}), out, nltk_data, cache_dir,
                    progress=False)
    assert all(m.status == Status.DONE and m.resumed_from_step > 0 for m in FleetRecord.read(out).models)
    assert_same_models(micro_fleet[0], out)
