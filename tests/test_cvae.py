"""The transformer CVAE: shapes, padding masks, determinism, sampling-time dropout."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from infagenc.models.cvae import CVAE, CVAEConfig, sinusoidal_positions

TINY = CVAEConfig(num_layers=2, d_model=16, num_heads=2, ff_size=32, dropout=0.1)


def model(num_classes=3, v=4, c=6, seed=0) -> CVAE:
    torch.manual_seed(seed)
    return CVAE(num_classes, v, c, TINY).eval()


def test_config_defaults_round_trip_and_checks():
    p = CVAEConfig()
    assert (p.num_layers, p.d_model, p.num_heads, p.ff_size, p.dropout, p.activation) == (8, 256, 4, 1024, 0.1, "gelu")
    assert CVAEConfig.from_dict(CVAEConfig.slim().to_dict()) == CVAEConfig.slim()
    assert CVAEConfig.of_size("paper") == p and CVAEConfig.of_size("slim").d_model < p.d_model
    with pytest.raises(ValueError, match="divisible"):
        CVAEConfig(d_model=30, num_heads=4)
    with pytest.raises(ValueError, match="unknown"):
        CVAEConfig.from_dict({"layers": 3})
    m = CVAE(4, 24, 6, CVAEConfig())
    assert len(m.encoder.layers) == 8 and len(m.decoder.layers) == 8 and m.latent_dim == 256


def test_size_names_and_the_legacy_small_alias():
    from infagenc.models.registry import SIZES as REGISTRY_SIZES
    from infagenc.models.sizes import LEGACY_SIZES, SIZES, canonical_size

    assert SIZES == ("paper", "slim") and REGISTRY_SIZES is SIZES
    assert LEGACY_SIZES == {"small": "slim"} and canonical_size("small") == "slim"
    assert CVAEConfig.of_size("small") == CVAEConfig.of_size("slim") == CVAEConfig.slim()
    assert not hasattr(CVAEConfig, "small")  # one name in the API; the alias lives in models.sizes only
    with pytest.raises(ValueError, match="size must be one of"):
        CVAEConfig.of_size("tiny")


def test_shapes_and_zero_padding_output():
    m = model()
    x = torch.randn(3, 7, 4, 6)
    out = m(x, torch.tensor([0, 1, 2]), torch.tensor([7, 3, 1]), generator=torch.Generator().manual_seed(0))
    assert out["output"].shape == (3, 7, 4, 6)
    assert out["mu"].shape == out["logvar"].shape == out["z"].shape == (3, 16)
    assert (out["output"][1, 3:] == 0).all() and (out["output"][2, 1:] == 0).all()
    assert out["output"][1, :3].abs().sum() > 0
    assert sinusoidal_positions(5, 16).shape == (5, 16)


def test_padding_never_changes_outputs_at_real_frames():
    m = model()
    g = torch.Generator().manual_seed(3)
    seqs = torch.randn(2, 6, 4, 6, generator=g)
    labels, lengths = torch.tensor([2, 0]), torch.tensor([6, 4])
    outs = []
    for t, fill in ((6, 0.0), (11, 0.0), (11, 50.0)):
        x = torch.full((2, t, 4, 6), fill)
        x[:, :6] = seqs
        x[1, 4:] = fill  # sequence 1 is 4 frames long: frames 4, 5 are padding too
        outs.append(m(x, labels, lengths, generator=torch.Generator().manual_seed(9)))
    for o in outs[1:]:
        torch.testing.assert_close(o["mu"], outs[0]["mu"], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(o["logvar"], outs[0]["logvar"], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(o["output"][0, :6], outs[0]["output"][0, :6], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(o["output"][1, :4], outs[0]["output"][1, :4], atol=1e-5, rtol=1e-5)
        assert (o["output"][1, 4:] == 0).all()
    # and a sequence alone gives what it gives in a batch with a longer one
    alone = m(seqs[1:, :4], labels[1:], lengths[1:], use_mean=True)["output"]
    batched = m(seqs, labels, lengths, use_mean=True)["output"][1:, :4]
    torch.testing.assert_close(alone, batched, atol=1e-5, rtol=1e-5)


def test_encoder_reads_the_frames_and_the_label():
    m = model()
    x = torch.randn(1, 5, 4, 6)
    mu0, _ = m.encode(x, torch.tensor([0]))
    mu1, _ = m.encode(x, torch.tensor([1]))
    mu2, _ = m.encode(x + 1.0, torch.tensor([0]))
    assert not torch.allclose(mu0, mu1) and not torch.allclose(mu0, mu2)


def test_sampling_is_deterministic_for_a_seed():
    m = model()
    labels, lengths = torch.tensor([0, 1, 2, 1]), torch.tensor([5, 8, 3, 8])
    a = m.sample(labels, lengths, torch.Generator().manual_seed(1))
    b = m.sample(labels, lengths, torch.Generator().manual_seed(1))
    c = m.sample(labels, lengths, torch.Generator().manual_seed(2))
    assert a.shape == (4, 8, 4, 6)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not torch.allclose(a, c)
    assert (a[0, 5:] == 0).all() and (a[2, 3:] == 0).all()


def test_sampling_dropout_adds_diversity_and_restores_the_model():
    m = model()
    labels, lengths = torch.tensor([0, 0]), torch.tensor([6, 6])
    z = torch.zeros(2, 16)
    plain = m.decode(z, labels, lengths)
    torch.testing.assert_close(plain[0], plain[1])  # same z, same class: same sequence
    torch.manual_seed(0)
    d1 = m.decode(z, labels, lengths, dropout=0.3)
    torch.manual_seed(0)
    d2 = m.decode(z, labels, lengths, dropout=0.3)
    torch.testing.assert_close(d1, d2)  # seeded
    assert not torch.allclose(d1[0], d1[1])  # dropout makes the two differ
    assert not torch.allclose(d1, plain)
    # back to eval mode with the configured probabilities
    assert not any(mod.training for mod in m.modules())
    assert all(mod.p == TINY.dropout for mod in m.modules() if isinstance(mod, nn.Dropout))
    assert all(mod.dropout == TINY.dropout for mod in m.modules() if isinstance(mod, nn.MultiheadAttention))
    torch.testing.assert_close(m.decode(z, labels, lengths), plain)
    with pytest.raises(ValueError, match="dropout"):
        m.decode(z, labels, lengths, dropout=1.5)


def test_gradients_reach_encoder_decoder_and_class_tokens():
    m = model().train()
    x = torch.randn(2, 5, 4, 6)
    out = m(x, torch.tensor([0, 2]), torch.tensor([5, 3]))
    ((out["output"] - x) ** 2).sum().add(out["mu"].pow(2).sum() + out["logvar"].exp().sum()).backward()
    for name in ("skel_embedding.weight", "final.weight", "mu_query", "sigma_query", "action_bias"):
        p = dict(m.named_parameters())[name]
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert (m.mu_query.grad[1] == 0).all()  # class 1 was not in the batch


def test_bad_inputs_are_refused():
    m = model()
    with pytest.raises(ValueError, match="labels"):
        m(torch.randn(1, 5, 4, 6), torch.tensor([3]), torch.tensor([5]))
    with pytest.raises(ValueError, match=r"\(V, C\)"):
        m(torch.randn(1, 5, 3, 6), torch.tensor([0]), torch.tensor([5]))
    with pytest.raises(ValueError, match="exceed"):
        m(torch.randn(1, 5, 4, 6), torch.tensor([0]), torch.tensor([6]))
