"""The review-backend protocol, its registry and the shared result types (no server)."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from typing import Any

import numpy as np
import pytest

from datacentric.dataset import Dataset
from datacentric.exceptions import IntegrationError, InvalidParameterError
from datacentric.integrations import review
from datacentric.integrations.fiftyone.backend import FiftyOneBackend
from datacentric.integrations.labelstudio.backend import LabelStudioBackend
from datacentric.integrations.review import BackendRegistry, PullResult, PushResult


class _Stub:
    name = "stub"
    push_options: dict[str, str] = {"flavour": "a test option"}  # noqa: RUF012
    pull_options: dict[str, str] = {}  # noqa: RUF012

    def __init__(self, returns: Any = None) -> None:
        self.returns = returns
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def push(self, ds: Any, items: Any = None, **kw: Any) -> Any:
        self.calls.append(("push", kw))
        return self.returns

    def pull(self, ds: Any, **kw: Any) -> Any:
        self.calls.append(("pull", kw))
        return self.returns


def _push_result(**kw: Any) -> PushResult:
    base = {"backend": "stub", "target": "t", "n_items": 1, "created": 1, "updated": 0}
    return PushResult(**(base | {"unchanged": 0, "seconds": 0.0} | kw))


def test_builtins_implement_the_protocol_and_load_lazily() -> None:
    reg = BackendRegistry()
    assert reg.names() == ["labelstudio", "fiftyone"]
    ls, fo = reg.get("labelstudio"), reg.get("fiftyone")
    assert isinstance(ls, LabelStudioBackend) and isinstance(fo, FiftyOneBackend)
    assert isinstance(ls, review.ReviewBackend) and isinstance(fo, review.ReviewBackend)
    assert reg.get("labelstudio") is ls  # one instance
    assert {"url", "token", "guide", "limit"} <= set(ls.push_options)
    assert set(fo.pull_options) == {"reviewer", "full"}
    code = (
        "import sys, datacentric.integrations.review as r\n"
        "print(any(m.startswith(('datacentric.integrations.labelstudio', "
        "'datacentric.integrations.fiftyone')) for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_register_checks_the_backend() -> None:
    reg = BackendRegistry({})
    with pytest.raises(InvalidParameterError, match=r"is not a review backend: it lacks \['pull"):

        class Half:
            name = "half"
            push_options: dict[str, str] = {}  # noqa: RUF012

            def push(self) -> None: ...

        reg.register(Half)
    bad = _Stub()
    bad.name = "Bad Name"
    with pytest.raises(InvalidParameterError, match=r"lower-case name .* received 'Bad Name'"):
        reg.register(bad)
    stub = reg.register(_Stub())
    assert reg.get("stub") is stub and "stub" in reg
    reg.register(_Stub())  # the same class again (a re-imported module) replaces it

    class Other(_Stub):
        pass

    with pytest.raises(InvalidParameterError, match="'stub' is already registered"):
        reg.register(Other())
    other = reg.register(Other(), replace=True)
    assert reg.get("stub") is other
    with pytest.raises(InvalidParameterError, match=r"no review backend named 'x'.*\['stub'\]"):
        reg.get("x")


def test_a_builtin_name_cannot_be_taken_by_accident() -> None:
    reg = BackendRegistry()
    stub = _Stub()
    stub.name = "fiftyone"
    with pytest.raises(InvalidParameterError, match="'fiftyone' is already registered"):
        reg.register(stub)
    with reg.scoped():
        reg.register(stub, replace=True)
        assert reg.get("fiftyone") is stub
    assert isinstance(reg.get("fiftyone"), FiftyOneBackend)


def test_push_and_pull_check_options_and_results() -> None:
    ds = Dataset.from_arrays(np.zeros((2, 4, 4)), ["a", "b"], classes=["a", "b"])
    with review.REGISTRY.scoped():
        stub = review.register_backend(_Stub(_push_result()))
        res = review.push(ds, None, backend="stub", target="t", flavour="mint")
        assert res.created == 1
        assert stub.calls == [("push", {"target": "t", "predictions": None, "flavour": "mint"})]
        with pytest.raises(InvalidParameterError, match=r"takes no option 'colour'; .*\['flavour'"):
            review.push(ds, backend="stub", colour="red")
        with pytest.raises(InvalidParameterError, match=r"pull takes no option 'flavour'; .* \[\]"):
            review.pull(ds, backend="stub", flavour="mint")
        with pytest.raises(IntegrationError, match=r"pull returned PushResult, not a .*PullResult"):
            review.pull(ds, backend="stub")  # the stub answers a pull with a PushResult
    assert "stub" not in review.REGISTRY


def test_results_are_frozen_and_shared_by_the_backends() -> None:
    from datacentric.integrations.fiftyone.pull import PullResult as FOPull
    from datacentric.integrations.fiftyone.push import PushResult as FOPush
    from datacentric.integrations.labelstudio.pull import PullResult as LSPull
    from datacentric.integrations.labelstudio.push import PushResult as LSPush

    assert issubclass(LSPush, PushResult) and issubclass(FOPush, PushResult)
    assert issubclass(LSPull, PullResult) and issubclass(FOPull, PullResult)
    r = _push_result()
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.created = 5  # type: ignore[misc]
    ls = LSPush(
        backend="labelstudio",
        target="Digits",
        url="http://h/projects/3/data",
        n_items=5,
        created=2,
        updated=0,
        unchanged=3,
        seconds=0.1,
        project_id=3,
        task_ids={"a": 1},
    )
    assert (ls.existing, ls.project_url) == (3, "http://h/projects/3/data")  # the old names
    fo = FOPush(
        backend="fiftyone",
        target="dc",
        n_items=4,
        created=1,
        updated=2,
        unchanged=1,
        seconds=0.2,
        n_samples=4,
        deleted=0,
    )
    assert (fo.name, fo.added, fo.write_path) == ("dc", 1, "public")
    assert repr(fo).startswith("PushResult('dc': 4 samples; added 1, updated 2")
