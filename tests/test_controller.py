"""C: parameter counts of every variant, flat (de)serialisation, batched actions, action mapping."""

import numpy as np
import pytest

from worldmodels.controller import Controller, controller_input, controller_spec, flatten, unflatten
from worldmodels.envs.carracing import carracing_action
from worldmodels.envs.doom import takecover_action
from worldmodels.experiments import CARRACING, DOOMRNN


@pytest.mark.parametrize(
    ("exp", "mode", "count", "inputs"),
    [
        (CARRACING, "zh", 867, 288),
        (CARRACING, "z", 99, 32),
        (CARRACING, "z_hidden", 1443, 32),
        (DOOMRNN, "zh", 1088, 1088),
        (DOOMRNN, "z", 64, 64),
    ],
)
def test_parameter_counts(exp, mode, count, inputs):
    spec = controller_spec(exp, mode)
    assert spec.num_params == count
    assert spec.input_size == inputs


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="unknown controller mode"):
        controller_spec(CARRACING, "zch")


def test_flat_round_trip_and_layout():
    spec = controller_spec(CARRACING, "zh")
    params = np.random.default_rng(0).standard_normal((3, spec.num_params)).astype(np.float32)
    layers = unflatten(spec, params)
    weight, bias = layers[0]
    assert weight.shape == (3, 288, 3) and bias.shape == (3, 3)
    np.testing.assert_array_equal(weight[1, 0], params[1, :3])  # W row-major first
    np.testing.assert_array_equal(bias[2], params[2, -3:])  # then the bias
    np.testing.assert_array_equal(flatten(layers), params)


@pytest.mark.parametrize(("exp", "mode"), [(CARRACING, "zh"), (DOOMRNN, "zh"),
                                           (CARRACING, "z_hidden")])
def test_batched_act_equals_single_candidates_and_formula(exp, mode):
    spec = controller_spec(exp, mode)
    rng = np.random.default_rng(1)
    params = rng.standard_normal((4, spec.num_params)).astype(np.float32) * 0.1
    x = rng.standard_normal((4, 5, spec.input_size)).astype(np.float32)
    out = Controller(spec, params).act(x)
    assert out.shape == (4, 5, exp.action_size)
    for k in range(4):
        np.testing.assert_allclose(Controller(spec, params[k]).act(x[k : k + 1])[0], out[k],
                                   atol=1e-6)
    candidate = np.array([2, 0, 3, 3, 1])
    rows = Controller(spec, params).act_rows(x[candidate, np.arange(5)], candidate)
    np.testing.assert_allclose(rows, out[candidate, np.arange(5)], atol=1e-6)
    if mode == "zh":
        (weight, bias), = unflatten(spec, params)
        b = 0.0 if bias is None else bias[0]
        np.testing.assert_allclose(out[0], np.tanh(x[0] @ weight[0] + b), atol=1e-6)


def test_wrong_parameter_count_is_refused():
    with pytest.raises(ValueError, match=r"\(K, 867\)"):
        Controller(controller_spec(CARRACING), np.zeros((2, 866)))


def test_controller_input_orders_z_c_h():
    z, h, c = np.full((2, 64), 1.0), np.full((2, 512), 2.0), np.full((2, 512), 3.0)
    x = controller_input(controller_spec(DOOMRNN), z, h, c)
    assert x.shape == (2, 1088)
    assert x[0, 63] == 1.0 and x[0, 64] == 3.0 and x[0, -1] == 2.0
    car = controller_input(controller_spec(CARRACING), z[:, :32], h[:, :256], c[:, :256])
    assert car.shape == (2, 288) and car[0, -1] == 2.0
    assert controller_input(controller_spec(CARRACING, "z"), z[:, :32], h, c).shape == (2, 32)


def test_carracing_action_mapping():
    a = np.array([[-0.5, -1.0, -0.3], [0.7, 0.0, 0.8]])
    np.testing.assert_allclose(carracing_action(a), [[-0.5, 0.0, 0.0], [0.7, 0.5, 0.8]])


def test_takecover_action_thresholds():
    a = np.array([[-0.9], [-0.34], [-0.33], [0.0], [0.33], [0.34], [1.0]])
    assert takecover_action(a).tolist() == [2, 2, 0, 0, 0, 1, 1]
