"""Seeds trained together as one stacked model (``dmdlab.training.stacked``) against the same
seeds trained one at a time, and ``bench --seeds``. Every dropout rate is 0 here: the stacked
step refuses dropout (vmap and ``keep_mask``), so members match separate models to float rounding."""

from __future__ import annotations

import json

import pytest
import torch

from dmdlab.cli import main
from dmdlab.model import build_model
from dmdlab.training.stacked import StackedModels, without_dropout

SEEDS = (1111, 1112, 1113)


@pytest.fixture(scope="module")
def members(tiny_dataset, tiny_config):
    """Three models of the tiny config without dropout, one per seed, and each one's own first batches."""
    config = without_dropout(tiny_config)
    models, batches = [], []
    for seed in SEEDS:
        torch.manual_seed(seed)
        models.append(build_model(config, tiny_dataset.spec).train())
        order = torch.Generator().manual_seed(seed)          # each member its own data order
        batches.append(list(zip(range(2), tiny_dataset.splits["train"].batches(8, shuffle=True, generator=order))))
    return config, models, [[b for _, b in member] for member in batches]


def _clipped_grads(loss, parameters) -> None:
    loss.backward()
    torch.nn.utils.clip_grad_value_(parameters, 0.6)


def test_a_stacked_step_is_the_members_steps(members, tiny_dataset):
    """Losses and clipped gradients of two steps on each member's own batches: each member as if
    alone, to float rounding. Adam on the stack is then K Adam steps: given the members' own
    gradients it moves each member as its own optimizer does. (The weights after Adam are not
    compared through the losses: Adam divides by the gradient's running size, so a gradient that
    is zero in exact arithmetic, e.g. the key bias of a softmax, moves by ±lr on rounding noise.)"""
    config, models, batches = members
    stacked = StackedModels(models).train()
    for step in range(2):
        losses = stacked.loss([member[step] for member in batches])
        separate = [model.loss(model.forward_batch(member[step]), member[step].labels).total
                    for model, member in zip(models, batches)]
        torch.testing.assert_close(losses.detach(), torch.stack(separate).detach(), rtol=1e-5, atol=1e-5)
        assert len(set(losses.tolist())) == len(models)          # the members differ: seeds and data orders
        _clipped_grads(losses.sum(), stacked.parameters)
        for model, loss in zip(models, separate):
            _clipped_grads(loss, list(model.parameters()))
    for index, model in enumerate(models):
        for name, parameter in model.named_parameters():
            assert (stacked.params[name].grad is None) == (parameter.grad is None), name
            if parameter.grad is None:
                continue
            torch.testing.assert_close(stacked.params[name].grad[index], parameter.grad, rtol=1e-4, atol=1e-6,
                                       msg=f"member {index}: gradient of {name}")
    for name, parameter in stacked.params.items():     # the members' own gradients, then one Adam step each way
        grads = [dict(model.named_parameters())[name].grad for model in models]
        parameter.grad = None if grads[0] is None else torch.stack(grads)
    torch.optim.Adam(stacked.parameters, lr=1e-3).step()
    for model in models:
        torch.optim.Adam(model.parameters(), lr=1e-3).step()
    for index, model in enumerate(models):
        state = stacked.member_state(index)
        for name, value in model.state_dict().items():
            torch.testing.assert_close(state[name], value, rtol=0, atol=1e-7, msg=f"member {index}: {name}")
        rebuilt = build_model(config, tiny_dataset.spec)
        rebuilt.load_state_dict(state)                            # a member's weights load into a plain model


def test_the_stack_refuses_dropout_and_mixed_models(tiny_dataset, tiny_config):
    model = build_model(tiny_config, tiny_dataset.spec)
    with pytest.raises(ValueError, match=r"dropout rate 0.*attn_dropout=0.3"):
        StackedModels([model, model])
    wider = build_model(without_dropout(tiny_config.replace(arch={"d": 12})), tiny_dataset.spec)
    narrow = build_model(without_dropout(tiny_config), tiny_dataset.spec)
    with pytest.raises(ValueError, match="differ in their parameters"):
        StackedModels([narrow, wider])
    with pytest.raises(ValueError, match=r"one batch per member \(1\)"):
        StackedModels([narrow]).loss([])


def test_bench_seeds_prints_stacked_beside_alone(tiny_dataset_path, capsys, tiny_cli):
    code = main(["bench", "--data", str(tiny_dataset_path), *tiny_cli, "--seeds", "2", "--train-batches", "2",
                 "--batch-size", "8", "--threads", "1"])
    assert code == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["seeds"] == 2 and record["dropout"] == 0.0 and record["batches"] == 2
    for way in ("alone", "stacked", "wide_batch"):
        assert record[f"{way}_samples_per_s"] > 0 and record[f"{way}_samples_per_cpu_s"] > 0
    assert record["stacked_over_alone"] == pytest.approx(
        record["stacked_samples_per_s"] / record["alone_samples_per_s"], rel=1e-2)
    assert record["loss_max_abs_difference"] < 1e-4          # the members' first losses, stacked and alone
    assert main(["bench", "--data", str(tiny_dataset_path), *tiny_cli, "--seeds", "7", "--train-batches", "5"]) == 2
    assert "need 560 training clips" in capsys.readouterr().err
