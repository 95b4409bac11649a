"""Parameters and dataset options declare their valid values (a Range or Choices),
checked where they are typed: a value outside is a one-line error naming the method or
dataset, the option and what it must be, before any work."""

from __future__ import annotations

import numbers

import pytest
from regbench_methods.vxm import Vxm1

from regbench import Choices, Method, Range
from regbench.cli import main
from regbench.plugin.manager import collect, plugin_manager
from regbench.plugin.options import resolve


@pytest.mark.parametrize(("rule", "good", "bad", "text"), [
    (Range(at_least=1), [1, 5], [0, -1], "at least 1"),
    (Range(above=0), [1e-9, 2.0], [0.0, -1.0], "greater than 0"),
    (Range(above=0, below=1), [0.2], [0.0, 1.0], "greater than 0 and less than 1"),
    (Range(at_least=0, at_most=1.5), [0, 1.5], [-0.1, 1.6], "at least 0 and at most 1.5"),
    (Choices("mse", "ncc"), ["mse", "ncc"], ["mi", ""], "one of mse, ncc"),
])
def test_a_rule_accepts_exactly_its_values_and_says_which(rule, good, bad, text):
    assert all(rule.accepts(value) for value in good) and not any(rule.accepts(value) for value in bad)
    assert str(rule) == text


def test_resolve_checks_given_values_and_each_number_of_a_tuple():
    defaults, rules = {"sigma": 1.5, "levels": (4, 2)}, {"sigma": Range(above=0), "levels": Range(at_least=1)}
    assert resolve("method 'm'", defaults, {"sigma": "0.5", "levels": "3,1"}, rules) == {"sigma": 0.5, "levels": (3, 1)}
    with pytest.raises(ValueError, match=r"^method 'm': sigma must be greater than 0, got -1.0$"):
        resolve("method 'm'", defaults, {"sigma": "-1"}, rules)
    with pytest.raises(ValueError, match=r"^method 'm': levels must be at least 1 \(each value\), got \(3, 0\)$"):
        resolve("method 'm'", defaults, {"levels": "3,0"}, rules)


class Base(Method):
    name = "base"
    default_params = {"iterations": 5, "metric": "mse"}
    param_rules = {"iterations": Range(at_least=1), "metric": Choices("mse", "ncc")}

    def register(self, fixed, moving):
        raise AssertionError("never called")


class Tuned(Base):  # writes its own rules: keeps its base's
    name = "tuned"
    default_params = {**Base.default_params, "sigma": 1.0}
    param_rules = {"sigma": Range(above=0)}


class Fewer(Base):  # drops an option: drops its rule
    name = "fewer"
    default_params = {"metric": "mse"}


class Stray(Base):
    name = "stray"
    param_rules = {"sigam": Range(above=0)}


def test_a_subclass_keeps_its_bases_rules_for_the_options_it_has():
    with pytest.raises(ValueError, match="method 'tuned': metric must be one of mse, ncc, got 'mi'"):
        Tuned(metric="mi")
    with pytest.raises(ValueError, match="method 'tuned': sigma must be greater than 0"):
        Tuned(sigma=0)
    assert Fewer(metric="ncc").params == {"metric": "ncc"}


def test_a_rule_for_an_option_the_class_lacks_is_the_plugins_error():
    with pytest.raises(ValueError, match=r"method 'stray' declares param_rules for 'sigam', which are not among its "
                                         r"options"):
        Stray()


def test_a_range_refuses_what_is_not_a_number_and_an_empty_tuple():
    assert not Range(at_least=0).accepts("auto") and not Range(at_least=0).accepts(None)
    assert not Range(at_least=0).accepts(True)
    with pytest.raises(ValueError, match=r"levels must be at least 1 \(each value\), got \(\)"):
        resolve("method 'm'", {"levels": (1,)}, {"levels": ()}, {"levels": Range(at_least=1)})


def test_a_learned_methods_reg_weight_is_checked_once_it_is_a_number():
    with pytest.raises(ValueError, match="method 'vxm1': reg_weight must be at least 0, got -1.0"):
        Vxm1(reg_weight="-1")


def _catalog():
    return collect(plugin_manager())


def test_every_built_in_numeric_parameter_declares_its_range_and_its_default_is_within_it():
    for entry in _catalog().methods.entries():
        cls = entry.cls
        resolve(f"method {cls.name!r}", cls.default_params, {}, cls.param_rules)  # the defaults pass their rules
        numeric = [key for key, value in cls.default_params.items() if not isinstance(value, bool) and (
            isinstance(value, numbers.Number) or (isinstance(value, tuple) and value
                                                  and isinstance(value[0], numbers.Number)))]
        undeclared = [key for key in numeric if key not in cls.param_rules]
        assert not undeclared, f"{cls.name}: numeric parameters without a range: {undeclared}"


def test_every_built_in_datasets_defaults_are_within_its_rules():
    for entry in _catalog().datasets.entries():
        cls = entry.cls
        resolve(f"dataset {cls.name!r}", cls.default_options, {}, cls.option_rules)


@pytest.mark.parametrize(("arguments", "message"), [
    (["--methods", "dipy-syn", "--param", "dipy-syn.sigma_diff=-1"],
     "method 'dipy-syn': sigma_diff must be greater than 0, got -1.0"),
    (["--methods", "vxm1", "--param", "vxm1.precision=half"],
     "method 'vxm1': precision must be one of fp32, bf16, fp16, auto"),
    (["--methods", "identity", "--dataset-option", "test_fraction=1.5"],
     "dataset 'mni2d': test_fraction must be greater than 0 and less than 1, got 1.5"),
])
def test_a_value_outside_its_rule_is_one_usage_line_before_any_work(arguments, message, tmp_path, capsys):
    assert main(["run", *arguments, "--out", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and message in error[0]
    assert not (tmp_path / "out").exists()
