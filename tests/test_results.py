"""The results registry (results/): every figure the course quotes comes from a record, and the
text shows what the record holds (issue 24)."""
import json
import re

import pytest

from course import cli, notebooks, results

ROOT = notebooks.project_root()


def test_every_record_is_complete_and_named_by_its_file():
    records = results.load(ROOT)
    assert records, "results/ holds no records"
    for rid, record in records.items():
        assert results.validate(record, rid) == []
        assert results.commands(record), rid


def test_every_record_is_quoted_somewhere_and_every_marker_names_one():
    records = results.load(ROOT)
    texts = [(ROOT / "README.md").read_text(encoding="utf-8")]
    for path in sorted((ROOT / "solutions").glob("*.ipynb")):
        texts += [c["source"] for c in notebooks.read(path)["cells"]]
    marked = set().union(*(results.used(t) for t in texts))
    assert marked <= set(records), f"markers name no record: {sorted(marked - set(records))}"
    assert set(records) <= marked, f"records quoted nowhere: {sorted(set(records) - marked)}"


def test_text_and_registry_agree():
    """What `python -m course notebooks check` reports about figures; empty when in sync."""
    assert notebooks.check_results(ROOT) == []


def project(tmp_path, value=3.14159, text="FD <!-- result:demo.fd -->3.14<!-- /result --> at n = 10."):
    (tmp_path / "results").mkdir()
    record = {"id": "demo.fd", "value": value, "format": ".2f", "command": "python -m course benchmark x",
              "data": "synthetic", "n": 10, "seeds": [0, 1, 2], "machine": "here", "date": "2026-11-29",
              "source": "a test"}
    (tmp_path / "results" / "demo.fd.json").write_text(json.dumps(record))
    (tmp_path / "README.md").write_text(text)
    return tmp_path


def test_a_figure_typed_into_the_text_is_caught_and_build_rewrites_it(tmp_path):
    root = project(tmp_path, text="FD <!-- result:demo.fd -->2.99<!-- /result --> at n = 10.")
    problems = notebooks.check_results(root)
    assert len(problems) == 1 and "'2.99'" in problems[0] and "'3.14'" in problems[0]
    text, problems = results.render((root / "README.md").read_text(), results.load(root))
    assert problems == [] and "-->3.14<!--" in text


def test_a_changed_record_is_caught(tmp_path):
    root = project(tmp_path, value=2.5)
    assert any("registry says '2.50'" in p for p in notebooks.check_results(root))


def test_a_marker_that_names_no_record_is_caught(tmp_path):
    root = project(tmp_path, text="<!-- result:demo.kid -->1<!-- /result --> <!-- result:demo.fd#a/b -->1<!-- /result -->")
    problems = notebooks.check_results(root)
    assert any("no record 'demo.kid'" in p for p in problems)
    assert any("has no 'a/b'" in p for p in problems)



@pytest.mark.parametrize("text", ["FD <!-- result:demo.fd :.1f-->3.1<!-- /result --> at n = 10.",
                                  "FD <!-- result:demo.fd -->3.14 at n = 10.",
                                  "FD 3.14<!-- /result --> at n = 10."])
def test_a_mistyped_marker_is_caught_not_left_as_text(tmp_path, text):
    problems = notebooks.check_results(project(tmp_path, text=text))
    assert len(problems) == 1 and "malformed figure marker" in problems[0]

@pytest.mark.parametrize("broken, message", [
    ({"seeds": []}, "seeds"), ({"command": ""}, "command"), ({"id": "Other"}, "id"), ({"format": "%q"}, "format")])
def test_malformed_records_are_refused(tmp_path, broken, message):
    root = project(tmp_path)
    path = root / "results" / "demo.fd.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **broken}))
    with pytest.raises(results.RegistryError, match=message):
        results.load(root)


def test_tables_key_paths_and_formats():
    records = {"t": {"id": "t", "value": {"row one": {"fd": 8.768, "share": 0.2051}, "list": [1, 2]}}}
    text = ("<!-- result:t#row one/fd :.2f -->x<!-- /result --> <!-- result:t#row one/share :.1% -->x<!-- /result -->"
            " <!-- result:t#list/1 -->x<!-- /result -->")
    rendered, problems = results.render(text, records)
    assert problems == [] and re.findall(r"-->([^<]*)<!-- /result", rendered) == ["8.77", "20.5%", "2"]


def test_a_min_format_shows_seconds_as_minutes_and_refuses_what_is_not_seconds():
    records = {"t": {"id": "t", "value": {"train_seconds": 789.4, "name": "x", "ok": 1}}}
    text = "<!-- result:t#train_seconds :min.1f -->x<!-- /result --> <!-- result:t#train_seconds :min -->x<!-- /result -->"
    rendered, problems = results.render(text, records)
    assert problems == [] and re.findall(r"-->([^<]*)<!-- /result", rendered) == ["13.2", "13"]
    with pytest.raises(results.RegistryError, match="not a number of seconds"):
        results.text_of({"t": {"id": "t", "value": [1, 2]}}, "t :min")


def test_reproduce_dry_run_prints_the_record_and_its_command(capsys):
    rid = sorted(results.load(ROOT))[0]
    assert cli.main(["reproduce", rid, "--dry-run"]) == 0
    out = capsys.readouterr().out
    record = results.load(ROOT)[rid]
    assert results.commands(record)[0] in out and record["machine"] in out
    assert cli.main(["reproduce", "no.such.figure", "--dry-run"]) == 2


def test_reproduce_runs_the_command(tmp_path, capsys):
    root = project(tmp_path)
    path = root / "results" / "demo.fd.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "command": "python -c \"print('measured 3.13')\""}))
    assert cli.main(["reproduce", "demo.fd", "--root", str(root)]) == 0
    assert "recorded (2026-11-29, here): 3.14159" in capsys.readouterr().out


def test_the_benchmarks_lessons_cite_are_course_commands():
    """Colab has what pip installs: lessons cite `python -m course benchmark NAME`, never benchmarks/*.py."""
    from course import benchmarks

    for path in sorted((ROOT / "solutions").glob("*.ipynb")):
        for cell in notebooks.read(path)["cells"]:
            assert "benchmarks/" not in cell["source"], f"{path.name} cites a script pip does not install"
            for name in re.findall(r"python -m course benchmark (\w+)", cell["source"]):
                assert name in benchmarks.BENCHMARKS, name


def test_benchmark_commands_are_listed_and_gan_failures_runs(tmp_path, monkeypatch, capsys):
    """`python -m course benchmark` is what lessons cite; the one behind lesson 02's failure figures
    runs end to end (a few steps, a fixed untrained network's features standing in for the evaluator)."""
    from conftest import write_mnist_folder

    from course.jobs import experiments
    from course.models import cnn

    assert cli.main(["benchmark"]) == 0
    listed = capsys.readouterr().out
    assert all(name in listed for name in ("gan_failures", "bn_momentum", "vae", "cyclegan_recipes", "backends_agree"))
    assert cli.main(["benchmark", "no_such_thing"]) == 2
    write_mnist_folder(tmp_path / "mnist", n_train=200, n_test=100)
    monkeypatch.setattr(experiments, "evaluator", lambda *a, **k: cnn.build_classifier((28, 28, 1), widths=(8, 16),
                                                                                        convs=(1, 1)))
    result = experiments.gan_failures(seeds=(0,), steps=3, n=40, fast=True, data_dir=tmp_path,
                                      speeds=("D 10x faster",), losses=("minimax",))
    assert [(r["setting"], r["g_loss"]) for r in result["rows"]] == [("D 10x faster", "minimax")]
    assert result["n"] == 40 and result["steps"] == 3 and set(result["summary"]) == {"D 10x faster, minimax"}
    assert all(0 <= r["precision"] <= 1 and r["G_gradient_norm"] >= 0 for r in result["rows"])


def test_epoch_speed_times_the_epochs_after_the_first_of_a_job_at_full_settings(tmp_path):
    from conftest import write_mnist_folder

    from course.benchmarks import epoch_speed

    write_mnist_folder(tmp_path / "mnist", n_train=200, n_test=20)
    row = epoch_speed.epoch_speed("vae", data_dir=tmp_path)
    assert row["job"] == "vae" and row["batch_size"] == 64 and row["images_per_epoch"] == 200  # full settings
    assert row["seconds_per_epoch"] > 0 and row["first_epoch_seconds"] > 0
    seconds = row["seconds_per_epoch"]  # rounded to 0.01 s
    assert len(row["timed_epochs"]) == 2 and seconds == pytest.approx(sum(row["timed_epochs"]) / 2, abs=0.011)
    assert 200 / (seconds + 0.005) <= row["images_per_second"] <= 200 / max(seconds - 0.005, 1e-3) + 0.1


def test_the_speeds_behind_the_cpu_estimates_are_the_registry_s():
    """devices.CPU_MINUTES (what every lesson's first cell warns about) and the first lines of the long
    cells are computed from speeds that must be the measured ones."""
    from course import devices, lesson_costs
    from course.jobs import evaluators

    records = results.load(ROOT)
    rates = lesson_costs.speeds(records)
    assert devices.CPU_IMAGES_PER_SECOND == rates
    assert rates["vae"] == records["speed.epoch_seconds"]["value"]["vae"]["images_per_second"]
    # lesson 03: 30 epochs, two one-epoch VAEs (beta) and six one-epoch models (V1) of 60,000 images each, and
    # the importance-weighted bound with k = 50 on the 10,000 test images
    expected = (60_000 * (30 + 2 + 6) / rates["vae"] + 10_000 * 50 / rates["vae_iwae"]) / 60
    assert devices.CPU_MINUTES["03"] == round(expected)
    assert set(devices.CPU_MINUTES) == {"01", "02", "03", "04", "05", "06"}
    # lesson 05: the diffusion run's pool completed once, SCORED more samples at the sampler's measured speed
    assert devices.CPU_MINUTES["05"] == round(lesson_costs.PARAMETERS["05_evaluation"]["SCORED"] / rates["diffusion_sample"] / 60)
    recipe = evaluators.recipe("mnist", fast=False)  # what the evaluator parts count: 5 epochs of 90% of 60,000
    assert f"{recipe.epochs} * {round(60_000 * (1 - recipe.validation_fraction)):_}" == lesson_costs.EVALUATOR
    assert all((p.speed, p.count) in {("cnn_judge", lesson_costs.EVALUATOR), ("diffusion_sample", "SCORED")}
               for parts in lesson_costs.CELLS.values() for p in parts if p.first_time)
    # each speed was measured with the recipe it prices: the judge's batch size and augmentation, and the lesson's
    from course.jobs import cnn

    measured = records["speed.epoch_seconds"]["value"]
    lesson = cnn.TrainConfig(dataset="mnist")
    assert (measured["cnn_judge"]["batch_size"], measured["cnn_judge"]["augment"]) == (recipe.batch_size, recipe.augment)
    assert (measured["cnn"]["batch_size"], measured["cnn"]["augment"]) == (lesson.batch_size, lesson.augment)
    assert lesson.augment != recipe.augment  # which is why they are two rows
    # ... and the benchmark that writes the record times those recipes (the rows a new measurement writes)
    from dataclasses import replace

    from course.benchmarks import epoch_speed

    for row, priced in (("cnn_judge", recipe), ("cnn", lesson)):
        model, cfg = epoch_speed.job_config(row)
        assert model == "cnn" and cfg.epochs == epoch_speed.EPOCHS and replace(cfg, epochs=priced.epochs) == priced
    assert epoch_speed.job_config("diffusion")[1].conditional  # lesson 06 trains the conditional model


PARAMETERS_CELL = "FAST = config.fast_mode()\nNUM_EPOCHS = 2 if FAST else {epochs}  # a comment\nSEED = 0"


def cost_project(tmp_path, rate=100.0, first_line=None, epochs=5, kind="code"):
    """A course with one lesson, 02_dcgan, whose cell "train" the (patched) lesson_costs announces."""
    (tmp_path / "results").mkdir(parents=True)
    base = {"command": "python -m course benchmark epoch_speed", "data": "synthetic", "n": 1, "seeds": [0],
            "machine": "here", "date": "2026-11-30", "source": "a test"}
    speed = {**base, "id": "speed.epoch_seconds", "value": {"dcgan": {"images_per_second": rate},
                                                             "vae_iwae": {"samples_per_second": 1000.0}}}
    sweep = {**base, "id": "diffusion.guidance_sweep", "n": 500, "value": {"1.0": {"sample_seconds": 50.0}}}
    for record in (speed, sweep):
        (tmp_path / "results" / f"{record['id']}.json").write_text(json.dumps(record))
    (tmp_path / "solutions").mkdir()

    def cell(cid, source, cell_type="code"):
        extra = {"outputs": [], "execution_count": None} if cell_type == "code" else {}
        return {"cell_type": cell_type, "id": cid, "metadata": {}, "source": source, **extra}

    cells = [cell("parameters", PARAMETERS_CELL.format(epochs=epochs)),
             cell("train", (first_line + "\n" if first_line else "") + "history = fit()", kind),
             cell("other", "print(history)")]
    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": cells}
    (tmp_path / "solutions" / "02_dcgan.ipynb").write_text(json.dumps(nb))
    (tmp_path / "course").mkdir()
    (tmp_path / "course" / "version.py").write_text('__version__ = "0.1.0"\n')
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n[project.urls]\n'
                                             'Repository = "https://github.com/generative-course/course"\n')
    return tmp_path


@pytest.fixture
def one_cost(monkeypatch):
    from course import lesson_costs

    monkeypatch.setattr(lesson_costs, "CELLS", {("02_dcgan", "train"): [
        lesson_costs.Part("dcgan", "NUM_EPOCHS * 60_000", "{NUM_EPOCHS} epochs x 60,000 images")]})
    monkeypatch.setattr(lesson_costs, "PARAMETERS", {"02_dcgan": {"NUM_EPOCHS": 5}})
    return lesson_costs


def train_cell(root):
    return notebooks.read(root / "solutions" / "02_dcgan.ipynb")["cells"][1]["source"]


def test_a_long_cell_announces_its_minutes_from_the_measured_speed_and_a_stale_line_is_caught(tmp_path, one_cost):
    root = cost_project(tmp_path)
    problems = notebooks.check_results(root)
    assert len(problems) == 1 and "first line should be" in problems[0], problems
    notebooks.build(root)
    expected = ("# Estimated at full settings on a 2-core CPU: about 50 minutes (5 epochs x 60,000 images at 100 "
                "images/s, measured).")  # 300,000 images / 100 per second = 50 minutes
    assert train_cell(root) == expected + "\nhistory = fit()"
    assert notebooks.read(root / "notebooks" / "02_dcgan.ipynb")["cells"][1]["source"] == train_cell(root)
    assert notebooks.check_results(root) == []
    notebooks.build(root)  # building again changes nothing
    assert train_cell(root) == expected + "\nhistory = fit()"

    faster = cost_project(tmp_path / "faster", rate=200.0, first_line=expected)  # measured again: the line is stale
    assert any("about 25 minutes" in p for p in notebooks.check_results(faster))
    notebooks.build(faster)
    assert "about 25 minutes" in train_cell(faster)

    one_cost.CELLS = {}  # a cost line the table no longer lists is caught, and build drops it
    assert any("does not list" in p for p in notebooks.check_results(faster))
    notebooks.build(faster)
    assert train_cell(faster) == "history = fit()"


def test_a_cost_line_anywhere_else_is_caught_and_build_leaves_one(tmp_path, one_cost):
    stale = one_cost.PREFIX + " about 999 minutes (stale)."
    root = cost_project(tmp_path, first_line="# a note\n" + stale)
    assert notebooks.check_results(root)
    notebooks.build(root)
    assert train_cell(root).count(one_cost.PREFIX) == 1 and "999" not in train_cell(root)
    assert notebooks.check_results(root) == []


def test_the_costs_count_with_the_lessons_full_settings(tmp_path, one_cost):
    root = cost_project(tmp_path, epochs=10)  # the lesson's default changed, the table did not
    assert any("NUM_EPOCHS = 5" in p and "says 10" in p for p in notebooks.check_results(root))
    notebooks.build(root)
    assert any("NUM_EPOCHS = 5" in p for p in notebooks.check_results(root))  # build cannot fix that: a person must


@pytest.mark.parametrize("kind", ["markdown", None])
def test_a_cell_the_costs_name_must_be_a_code_cell_of_a_lesson_that_exists(tmp_path, one_cost, kind):
    if kind is None:  # the lesson the table names was renamed
        one_cost.CELLS = {("02_gone", "train"): one_cost.CELLS[("02_dcgan", "train")]}
        root = cost_project(tmp_path)
        (root / "course" / "lesson_costs.py").write_text("")  # the course's own checkout
        assert any("02_gone.ipynb" in p for p in notebooks.check_results(root))
    else:
        root = cost_project(tmp_path, kind=kind)
        assert any("no code cell with id 'train'" in p for p in notebooks.check_results(root))


def test_the_lessons_parameters_are_read_from_their_parameters_cell():
    nb = notebooks.read(ROOT / "solutions" / "02_dcgan.ipynb")
    found = notebooks._parameters(nb)
    assert found["NUM_EPOCHS"] == 5 and found["NUM_SAMPLES"] == 10_000 and found["TRAIN_EXAMPLES"] is None
    assert "FAST" not in found  # not a literal


def test_lesson05_seeds_summarises_each_figure_over_the_seeds_and_keeps_every_run():
    """The three-seed table's mean, smallest and largest are over the seeds of one row, never across rows."""
    from course.benchmarks import lesson05_seeds

    per_seed = {"0": {"fd": 3.0, "precision": 0.6}, "1": {"fd": 4.5, "precision": 0.7}, "2": {"fd": 3.3, "precision": 0.5}}
    summary = lesson05_seeds.summary(per_seed)
    assert summary["fd"] == pytest.approx(3.6) and (summary["fd_min"], summary["fd_max"]) == (3.0, 4.5)
    assert summary["precision"] == pytest.approx(0.6) and (summary["precision_min"], summary["precision_max"]) == (0.5, 0.7)
    scored = {"fd": 3.21, "fd_std": 0.1, "kid": 0.02, "precision": 0.7, "recall": 0.8,
              "class_histogram": {"0": 0.05, "1": 0.2, "2": 0.75}, "memorisation": {"ratio": 1.1, "near_copies": 0.0, "verdict": "ok"}}
    row = lesson05_seeds.row(scored)
    assert (row["class_share_min"], row["class_share_max"], row["memorisation_ratio"]) == (0.05, 0.75, 1.1)
    assert set(lesson05_seeds.ROWS) == {"DCGAN 5 epochs", "DCGAN 20 epochs", "VAE", "Diffusion 10 epochs"}


def test_diffusion_batch_scores_each_recipe_at_guidance_1_and_refuses_a_run_of_other_settings(tmp_path):
    """Lesson 06's batch table: each row is its own recipe's run, scored without guidance (the guided row of a
    reused score is not taken), its optimizer steps counted with the last partial batch; a folder holding a run
    of other settings is an error, not a row."""
    import json

    from course.benchmarks import diffusion_batch

    run = tmp_path / "b16-lr0.001"
    run.mkdir()
    (run / "metrics.json").write_text(json.dumps({"epochs": 3, "batch_size": 16, "config": {"learning_rate": 0.001},
                                                  "examples": 100, "train_seconds": 5.0, "final_loss": 0.03}))
    rows = [{"set": "DDIM 50 steps, eta 1, guidance 3.0", "n": 500, "fd": 9.0, "asked_class_accuracy": 0.99,
             "smallest_class_share": 0.1},
            {"set": "DDIM 50 steps, eta 1, guidance 1.0", "n": 500, "fd": 1.5, "asked_class_accuracy": 0.8,
             "smallest_class_share": 0.09}]
    (run / "bench.json").write_text(json.dumps({"rows": rows}))
    row = diffusion_batch.measure(tmp_path, 16, 0.001, epochs=3, n=500, fast=False)
    assert (row["fd"], row["asked_class_accuracy"], row["optimizer_steps"]) == (1.5, 0.8, 21)  # 3 x ceil(100 / 16)
    with pytest.raises(ValueError, match="3 epochs"):
        diffusion_batch.measure(tmp_path, 16, 0.001, epochs=10, n=500, fast=False)
    assert diffusion_batch.parse_recipe("32:2e-3") == (32, 0.002)
    for bad in ("16", "16:x", "0:0.001", "16:-1"):
        with pytest.raises(ValueError, match="BATCH:LEARNING_RATE|positive"):
            diffusion_batch.parse_recipe(bad)
