import pytest
import torch

from clothlib.engine import fit, poly_schedule


class NoisyData(torch.utils.data.Dataset):
    """Random augmentation drawn from torch's RNG, like the real transforms."""

    def __len__(self):
        return 12

    def __getitem__(self, index):
        x = torch.full((4,), float(index)) + torch.randn(4)
        return x, (x.sum() > 20).long()


def _run(state_path, epochs=3, interrupt_at=None, workers=0):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Dropout(0.3), torch.nn.Linear(8, 2))
    loader = torch.utils.data.DataLoader(NoisyData(), batch_size=4, shuffle=True, num_workers=workers)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    scheduler = poly_schedule(optimizer, epochs * len(loader))

    def step(model, batch):
        x, y = batch
        return torch.nn.functional.cross_entropy(model(x), y), {}

    def evaluate(model):
        if interrupt_at is not None and len(calls) + 1 == interrupt_at:
            raise KeyboardInterrupt
        calls.append(1)
        return {"weight_norm": float(model[0].weight.norm())}

    calls = []
    history = fit(model, optimizer, loader, step, epochs=epochs, state_path=state_path, evaluate=evaluate,
                  scheduler=scheduler, seed=7, meta={"test": True})
    return model, history


@pytest.mark.parametrize("workers", [0, 1], ids=["in-process", "worker-process"])
def test_resume_after_interruption_equals_uninterrupted_training(tmp_path, workers):
    straight, straight_history = _run(tmp_path / "straight.pt", workers=workers)
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path / "resumed.pt", interrupt_at=2, workers=workers)  # killed in epoch 2, after epoch 1 was saved
    assert torch.load(tmp_path / "resumed.pt", weights_only=True)["epoch"] == 1  # a state file is plain data
    resumed, resumed_history = _run(tmp_path / "resumed.pt", workers=workers)
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)
    assert [h["loss"] for h in straight_history] == [h["loss"] for h in resumed_history]
    assert len(resumed_history) == 3


def test_resume_refuses_a_state_from_another_configuration(tmp_path):
    _run(tmp_path / "run.pt", epochs=1)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Dropout(0.3), torch.nn.Linear(8, 2))
    with pytest.raises(ValueError, match="another configuration"):
        fit(model, torch.optim.SGD(model.parameters(), lr=0.1), [], lambda m, b: None, epochs=2,
            state_path=tmp_path / "run.pt", meta={"test": False})


def test_poly_schedule_decays_to_zero():
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    scheduler = poly_schedule(optimizer, 10)
    lrs = []
    for _ in range(10):
        optimizer.step()
        scheduler.step()
        lrs.append(optimizer.param_groups[0]["lr"])
    assert lrs == sorted(lrs, reverse=True) and lrs[-1] == 0.0


def test_a_diverged_run_stops_after_its_first_non_finite_epoch(tmp_path):
    model = torch.nn.Linear(4, 2)
    loader = torch.utils.data.DataLoader(NoisyData(), batch_size=4)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e30)

    def step(model, batch):
        x, y = batch
        return torch.nn.functional.cross_entropy(model(x) * 1e30, y), {}

    history = fit(model, optimizer, loader, step, epochs=5, state_path=tmp_path / "state.pt", meta={})
    assert len(history) < 5 and not torch.isfinite(torch.tensor(history[-1]["loss"]))
