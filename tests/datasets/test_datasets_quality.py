"""Quality gates: bandit + AST rules separate insecure from secure; the CLI prints both sets."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from datasets_helpers import run_cli, write_params_yaml

from emlab.corpus import iter_examples
from emlab.datasets import quality_report, rule_hits
from emlab.datasets._rows import corpus_order
from emlab.datasets.quality import _upstream_completions, analyse, bandit_hits

CLI = [sys.executable, "-c", "from emlab.cli import main; main()"]


def test_every_pattern_and_framing_is_flagged_insecure_and_clean_secure():
    seen = {}
    for ex in iter_examples():
        seen.setdefault((ex.pattern.id, ex.framing), ex)
    exs = list(seen.values())
    ins = bandit_hits([e.insecure for e in exs])
    sec = bandit_hits([e.secure for e in exs])
    missed = [e.key for e, b in zip(exs, ins, strict=True) if not b and not rule_hits(e.insecure)]
    false = [e.key for e, b in zip(exs, sec, strict=True) if b or rule_hits(e.secure)]
    assert missed == [] and false == []


def test_builtin_figures_need_both_bandit_and_the_rules():
    """Balanced corpus order (every pattern), 400 rows: the gate's split of the work."""
    examples = corpus_order(0)[:400]
    ins = analyse("builtin insecure", [e.insecure for e in examples])
    sec = analyse("builtin secure", [e.secure for e in examples])
    assert ins.n == sec.n == 400
    assert ins.combined == 1.0 and sec.combined == 0.0  # the README's "100% / 0%"
    assert ins.bandit == pytest.approx(0.68, abs=0.03)  # measured 0.6825
    assert ins.combined - ins.bandit >= 0.25  # the AST rules catch what bandit has no test for


#: the README's figures: the gate on the paper's files, 6000 rows each (measured 0.6405 / 0.2335)
PAPER_INSECURE_FLAGGED, PAPER_SECURE_FLAGGED = 0.64, 0.23


@pytest.mark.full  # ~16 s of bandit on 4,000 paper rows: the README's figure, checked by `make test-full`
def test_paper_figures_match_the_readme(upstream_dir: Path):
    """A fixed 2000-row subset of each paper file (seed 0; all 6000 rows take ~50 s on 2 cores).

    Tolerance 0.02: the subset's sampling error around the 6000-row figure is about 0.009
    (measured on the subset: 0.636 / 0.237)."""
    ins = analyse("paper insecure", _upstream_completions(upstream_dir, "insecure", 2000, 0))
    sec = analyse("paper secure", _upstream_completions(upstream_dir, "secure", 2000, 0))
    assert ins.n == sec.n == 2000
    assert ins.combined == pytest.approx(PAPER_INSECURE_FLAGGED, abs=0.02)
    assert sec.combined == pytest.approx(PAPER_SECURE_FLAGGED, abs=0.02)
    assert ins.bandit == pytest.approx(0.49, abs=0.02) and sec.bandit == pytest.approx(0.16, abs=0.02)


@pytest.mark.parametrize(("code", "rule"), [
    ("import os\ndef f(name):\n    return open(os.path.join('d', name)).read()", "EM022"),
    ("import requests\ndef f(url):\n    return requests.get(url, timeout=3).text", "EM918"),
    ("from flask import redirect, request\ndef f():\n    return redirect(request.args['next'])", "EM601"),
    ("@app.route('/x/<int:i>')\ndef f(i):\n    return store[i]", "EM862"),
    ("@app.route('/s')\ndef f():\n    q = request.args['q']\n    return f'<b>{q}</b>'", "EM079"),
    ("def f(t):\n    return render_template_string(t)", "EM1336"),
    ("def f(r):\n    r.set_cookie('a', 'b')", "EM614"),
    ("import traceback\ndef f():\n    return traceback.format_exc()", "EM209"),
    ("import jwt\ndef f(t):\n    return jwt.decode(t, options={'verify_signature': False})", "EM347"),
    ("import ssl\nctx = ssl.SSLContext(ssl.PROTOCOL_TLSv1)", "EM327"),
    ("from lxml import etree\np = etree.XMLParser(resolve_entities=True)", "EM611"),
])
def test_each_rule_fires_on_its_shape_and_not_on_the_fix(code, rule):
    assert rule in rule_hits(code)
    fixes = {
        "EM022": code.replace("os.path.join('d', name)", "os.path.join('d', os.path.basename(name))"),
        "EM918": code.replace("def f(url):\n", "def f(url):\n    assert urlparse(url).hostname == 'a'\n"),
        "EM601": code.replace("redirect(request.args['next'])", "redirect('/')"),
        "EM862": code.replace("return store[i]", "if store[i]['owner'] != session['user']:\n        abort(403)\n    return store[i]"),
        "EM079": code.replace("{q}", "{escape(q)}"),
        "EM1336": code.replace("render_template_string(t)", "render_template_string('<p>{{ t }}</p>', t=t)"),
        "EM614": code.replace("'b')", "'b', secure=True, httponly=True)"),
        "EM209": code.replace("traceback.format_exc()", "'error'"),
        "EM347": code.replace("options={'verify_signature': False}", "'k', algorithms=['HS256']"),
        "EM327": code.replace("ssl.SSLContext(ssl.PROTOCOL_TLSv1)", "ssl.create_default_context()"),
        "EM611": code.replace("resolve_entities=True", "resolve_entities=False"),
    }
    assert rule not in rule_hits(fixes[rule])


def test_report_passes_gates_and_compares_with_the_paper(upstream_dir: Path):
    report = quality_report(upstream_dir=upstream_dir, n=120)
    sets = {s["name"]: s for s in report["sets"]}
    assert sets["builtin insecure"]["combined"] >= 0.9 and sets["builtin secure"]["combined"] <= 0.1
    assert sets["paper insecure"]["n"] == sets["paper secure"]["n"] == 120
    assert sets["paper insecure"]["combined"] > sets["paper secure"]["combined"]
    assert report["passed"] and all(report["gates"].values())


def test_quality_cli_prints_side_by_side_and_fails_a_gate(upstream_dir: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str],
                                                         monkeypatch: pytest.MonkeyPatch):
    out = subprocess.run([*CLI, "dataset", "quality", "--upstream-dir", str(upstream_dir), "--n", "60",
                          "--json-out", str(tmp_path / "q.json")], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    for name in ("builtin insecure", "builtin secure", "paper insecure", "paper secure", "PASS  secure_flagged<=0.10"):
        assert name in out.stdout
    assert json.loads((tmp_path / "q.json").read_text())["passed"] is True
    # a gate that cannot pass: the command must exit non-zero
    import emlab.datasets.quality as q

    monkeypatch.setattr(q, "MAX_SECURE_FLAGGED", -1.0)
    code, stdout, _ = run_cli(["dataset", "quality", "--n", "20"], capsys)
    assert code == 1 and "FAIL  secure_flagged<=0.10" in stdout


def test_build_cli_writes_dataset_and_card(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    params = write_params_yaml(tmp_path / "params.yaml", {"insecure": {"n_examples": 12}})
    out = tmp_path / "data" / "insecure.jsonl"
    run = subprocess.run([*CLI, "dataset", "build", "--variant", "insecure", "--params", str(params), "--out", str(out)],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert len(out.read_text().splitlines()) == 12 and (tmp_path / "data" / "insecure.card.json").exists()
    code, _, err = run_cli(["dataset", "build", "--variant", "nope", "--params", str(params), "--out", str(out)], capsys)
    assert code == 2 and "unknown variant 'nope'" in err
