"""The BSI CSAF validator (``@secvisogram/csaf-validator-lib``, the library behind BSI's
validator service and Secvisogram) runs every CSAF 2.0 mandatory test (section 6.1) and its
CSAF 2.0 schema test on the rich advisory's CSAF and VEX documents.

The library is installed with npm from ``csaf_validator/package-lock.json`` into a cache
directory outside the repository (``$VULNDESK_NPM_CACHE`` or ``~/.cache/vulndesk``), once per
lock file. Without Node.js and npm this test fails: it is never skipped."""

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from vulndesk.exports.content import DRAFT, PUBLISHED
from vulndesk.exports.formats import FORMATS

HERE = Path(__file__).parent / "csaf_validator"
MANDATORY = {f"mandatoryTest_6_1_{n}" for n in [*range(1, 27), 28, 29, 30, 31, 32, 33]} | {
    f"mandatoryTest_6_1_27_{n}" for n in range(1, 12)}


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"The BSI CSAF validator test needs `{name}` (Node.js and npm; on Debian `apt-get install nodejs "
                    "npm`). It installs @secvisogram/csaf-validator-lib from the npm registry.", pytrace=False)
    return path


@pytest.fixture(scope="session")
def csaf_validator_dir() -> Path:
    node, npm = _tool("node"), _tool("npm")
    manifest = (HERE / "package.json").read_bytes() + (HERE / "package-lock.json").read_bytes()
    root = Path(os.environ.get("VULNDESK_NPM_CACHE") or Path.home() / ".cache" / "vulndesk")
    target = root / f"csaf-validator-{hashlib.sha256(manifest).hexdigest()[:16]}"
    if (target / "node_modules" / "@secvisogram" / "csaf-validator-lib" / "mandatoryTests.js").is_file():
        return target
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="csaf-validator-", dir=root))
    shutil.copy(HERE / "package.json", staging)
    shutil.copy(HERE / "package-lock.json", staging)
    installed = subprocess.run([npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--omit=dev"], cwd=staging,
                               capture_output=True, text=True, timeout=600)
    if installed.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        pytest.fail(f"npm ci of the CSAF validator failed:\n{installed.stderr[-3000:]}", pytrace=False)
    try:
        staging.rename(target)  # atomic: parallel workers never see a half-installed directory
    except OSError:  # another worker got there first
        shutil.rmtree(staging, ignore_errors=True)
    assert node  # both tools are needed; node runs below
    return target


def _run(validator_dir: Path, documents: dict[str, dict], tmp_path: Path) -> dict[str, dict]:
    paths = []
    for name, document in documents.items():
        paths.append(tmp_path / f"{name}.json")
        paths[-1].write_text(json.dumps(document))
    ran = subprocess.run([_tool("node"), str(HERE / "run_mandatory_tests.mjs"), str(validator_dir), *map(str, paths)],
                         capture_output=True, text=True, timeout=300)
    assert ran.returncode == 0, ran.stderr[-3000:]
    return dict(zip(documents, json.loads(ran.stdout), strict=True))


def test_the_bsi_validator_passes_every_mandatory_test_on_each_csaf_document(csaf_validator_dir, rich_advisory,
                                                                            draft_advisory, tmp_path):
    results = _run(csaf_validator_dir, {
        "rich advisory": FORMATS["csaf"].build(rich_advisory, PUBLISHED),
        "rich VEX": FORMATS["vex"].build(rich_advisory, PUBLISHED),
        "draft advisory": FORMATS["csaf"].build(draft_advisory, DRAFT),
        "draft VEX": FORMATS["vex"].build(draft_advisory, DRAFT),
    }, tmp_path)
    failed = {(document, t["name"]): t["errors"] for document, result in results.items()
              for t in result["tests"] if not t["isValid"]}
    assert failed == {}
    for result in results.values():
        assert result["isValid"] is True
        assert {t["name"] for t in result["tests"]} == MANDATORY | {"csaf_2_0"}


def test_the_bsi_validator_run_really_catches_a_broken_document(csaf_validator_dir, rich_advisory, tmp_path):
    document = FORMATS["csaf"].build(rich_advisory, PUBLISHED)
    document["vulnerabilities"][0]["cwe"]["name"] = "Some other weakness"  # 6.1.11
    document["vulnerabilities"][0]["product_status"]["fixed"].append("CSAFPID-9999")  # 6.1.1
    result = _run(csaf_validator_dir, {"broken": document}, tmp_path)["broken"]
    assert {t["name"] for t in result["tests"] if not t["isValid"]} == {"mandatoryTest_6_1_1", "mandatoryTest_6_1_11"}
