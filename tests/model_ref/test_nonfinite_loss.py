"""A non-finite loss or gradient stops training before the optimizer steps: the weights and the
optimizer state stay as they were, and the CLI says so in one line instead of a traceback."""

from __future__ import annotations

import pytest
import torch

from model_ref import train as trainer
from model_ref.config import preset
from model_ref.model import VLModel, build_model
from model_ref.tokenizer import SPECIALS

FAST = ["--batch-size", "4", "--workers", "0", "--eval-batches", "2"]


def _setup(lr: float = 1e-2):
    model = build_model(preset("tiny").with_vocab(64), "cpu", seed=0)
    trained = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trained, lr=lr)
    ids = torch.randint(len(SPECIALS), 64, (2, 12), generator=torch.Generator().manual_seed(0))  # no <image>
    batch = {"input_ids": ids, "images": None, "labels": ids.clone()}
    return model, optimizer, trained, batch


def _snapshot(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def _unchanged(model: torch.nn.Module, before: dict[str, torch.Tensor]) -> bool:
    return all(torch.equal(p.detach(), before[n]) for n, p in model.named_parameters())


def test_a_finite_step_moves_the_weights():  # the check below would see a step that was taken
    model, optimizer, trained, batch = _setup()
    before = _snapshot(model)
    loss, grad_norm = trainer.train_step(model, optimizer, trained, batch, torch.device("cpu"), step=1)
    assert loss > 0 and grad_norm > 0 and not _unchanged(model, before)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_a_non_finite_loss_raises_before_the_step_and_leaves_the_weights_alone(monkeypatch, bad):
    model, optimizer, trained, batch = _setup()
    forward = VLModel.forward

    def poisoned(self, input_ids, images=None, labels=None):
        logits, loss = forward(self, input_ids, images, labels)
        return logits, loss * bad  # still attached to the graph: a backward would reach every weight

    monkeypatch.setattr(VLModel, "forward", poisoned)
    before = _snapshot(model)
    with pytest.raises(FloatingPointError) as err:
        trainer.train_step(model, optimizer, trained, batch, torch.device("cpu"), step=7)
    message = str(err.value)
    assert "\n" not in message and "step 7" in message and str(bad) in message and "--lr" in message
    assert _unchanged(model, before)
    assert all(p.grad is None for p in trained) and not optimizer.state


def test_a_non_finite_gradient_raises_before_the_step_and_leaves_the_weights_alone():
    model, optimizer, trained, batch = _setup()
    model.lm.embed.weight.register_hook(lambda grad: grad * float("inf"))  # a text batch reaches the LM
    before = _snapshot(model)
    with pytest.raises(FloatingPointError, match="gradient norm is"):
        trainer.train_step(model, optimizer, trained, batch, torch.device("cpu"), step="stage 2 step 3")
    assert _unchanged(model, before)
    assert all(p.grad is None for p in trained) and not optimizer.state


def test_the_cli_reports_a_non_finite_loss_in_one_line(shards, tmp_path, monkeypatch, capsys):
    forward = VLModel.forward

    def poisoned(self, input_ids, images=None, labels=None):
        logits, loss = forward(self, input_ids, images, labels)
        return logits, (loss * float("nan") if labels is not None else loss)

    monkeypatch.setattr(VLModel, "forward", poisoned)
    code = trainer.main(["--data", str(shards), "--stage", "2", "--steps", "2", "--out", str(tmp_path / "o"),
                         *FAST])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, err
    assert "stage 2 step 1" in errors[0] and "nan" in errors[0] and "lower --lr" in errors[0]
