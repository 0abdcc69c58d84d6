"""Oracles for the latent world models' distributions (mbrlax.models.distributions) and the
returns of imagined trajectories (mbrlax.agents.returns): symlog's inverse, two-hot round trips,
the KL of known categoricals, KL balancing's gradients and free bits, straight-through
gradients, lambda-returns against a hand computation, DreamerV3's return scale."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mbrlax.agents.returns import lambda_returns, replay_returns, return_scale, return_scale_init
from mbrlax.models.distributions import (
    categorical_kl,
    kl_balance,
    straight_through_sample,
    symexp,
    symlog,
    twohot,
    twohot_bins,
    twohot_loss,
    twohot_mean,
    unimix,
)


def test_symexp_inverts_symlog_and_symlog_is_the_identity_near_zero():
    x = jnp.array([-1e6, -1234.5, -3.0, -1e-3, 0.0, 1e-3, 0.5, 7.0, 1e6])
    np.testing.assert_allclose(symexp(symlog(x)), x, rtol=1e-5)
    assert float(symlog(0.0)) == 0.0
    np.testing.assert_allclose(symlog(-x), -symlog(x))
    assert float(jax.grad(symlog)(0.0)) == 1.0 == float(jax.grad(symexp)(0.0))
    np.testing.assert_allclose(jax.vmap(jax.grad(symlog))(x), 1.0 / (1.0 + jnp.abs(x)), rtol=1e-6)
    np.testing.assert_allclose(symlog(jnp.e - 1.0), 1.0, rtol=1e-6)


def test_twohot_puts_the_mass_on_the_two_neighbouring_bins_with_the_exact_mean():
    bins = jnp.array([-2.0, -1.0, 0.0, 1.0, 2.0])
    np.testing.assert_allclose(twohot(jnp.array(0.25), bins), [0, 0, 0.75, 0.25, 0])
    np.testing.assert_allclose(twohot(jnp.array(1.0), bins), [0, 0, 0, 1, 0])  # on a bin
    np.testing.assert_allclose(twohot(jnp.array(-7.0), bins), [1, 0, 0, 0, 0])  # clipped
    np.testing.assert_allclose(twohot(jnp.array(2.0), bins), [0, 0, 0, 0, 1])  # the end
    ys = jax.random.uniform(jax.random.key(0), (1000,), minval=-2.0, maxval=2.0)
    weights = twohot(ys, bins)
    assert weights.shape == (1000, 5)
    np.testing.assert_allclose(weights.sum(-1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(weights @ bins, ys, atol=1e-6)  # the round trip
    assert int((weights > 0).sum(-1).max()) <= 2


def test_the_twohot_prediction_of_a_target_is_the_target():
    bins = twohot_bins()
    assert bins.shape == (255,) and float(bins[0]) == -20.0 and float(bins[-1]) == 20.0
    targets = jnp.array([-250.0, -1.0, 0.0, 0.3, 42.0, 1e4])
    exact_logits = jnp.log(twohot(symlog(targets), bins) + 1e-30)
    np.testing.assert_allclose(twohot_mean(exact_logits, bins), targets, rtol=1e-4, atol=1e-5)
    # The loss is smallest at the exact labels: the entropy of the two-hot itself.
    uniform = jnp.zeros((6, 255))
    assert bool(
        jnp.all(twohot_loss(exact_logits, targets, bins) < twohot_loss(uniform, targets, bins))
    )
    with pytest.raises(ValueError, match="num_bins >= 2"):
        twohot_bins(1)


def test_twohot_loss_trains_logits_to_the_target():
    bins = twohot_bins(41, -5.0, 5.0)
    target = jnp.array(12.5)
    logits = jnp.zeros(41)
    grad = jax.jit(jax.grad(lambda lg: twohot_loss(lg, target, bins)))
    for _ in range(1000):
        logits = logits - 1.0 * grad(logits)
    # Trained to the two-hot labels: their mean in symlog space is the target's symlog.
    mean = jax.nn.softmax(logits) @ bins
    assert float(mean) == pytest.approx(float(symlog(target)), abs=0.01)
    assert float(twohot_mean(logits, bins)) == pytest.approx(12.5, rel=0.05)


def test_categorical_kl_of_known_distributions():
    p = jnp.array([0.5, 0.25, 0.25])
    q = jnp.array([0.25, 0.5, 0.25])
    expected = 0.5 * np.log(2.0) + 0.25 * np.log(0.5)  # sum p log(p / q)
    assert float(categorical_kl(jnp.log(p), jnp.log(q))) == pytest.approx(expected, rel=1e-6)
    assert float(categorical_kl(jnp.log(p), jnp.log(p) + 3.0)) == pytest.approx(0.0, abs=1e-7)
    logits = jax.random.normal(jax.random.key(1), (2, 100, 8))
    assert bool(jnp.all(categorical_kl(logits[0], logits[1]) >= -1e-6))


def test_unimix_floors_every_class():
    logits = jnp.array([50.0, 0.0, -50.0, -50.0])
    probs = jnp.exp(unimix(logits, 0.01))
    np.testing.assert_allclose(probs.sum(), 1.0, rtol=1e-6)
    assert float(probs.min()) == pytest.approx(0.01 / 4, rel=1e-4)
    np.testing.assert_allclose(jnp.exp(unimix(logits, 0.0)), jax.nn.softmax(logits), atol=1e-7)


def test_kl_balance_trains_each_side_by_its_own_loss_and_leaves_small_kls_alone():
    key_post, key_prior = jax.random.split(jax.random.key(2))
    post = 3.0 * jax.random.normal(key_post, (4, 8))  # G = 4 groups of K = 8 classes
    prior = 3.0 * jax.random.normal(key_prior, (4, 8))
    kl = float(categorical_kl(post, prior).sum())
    dyn, rep = kl_balance(post, prior, free_nats=1.0)
    assert kl > 1.0 and float(dyn) == pytest.approx(kl, rel=1e-6) == float(rep)
    d_dyn = jax.grad(lambda a, b: kl_balance(a, b)[0], argnums=(0, 1))(post, prior)
    d_rep = jax.grad(lambda a, b: kl_balance(a, b)[1], argnums=(0, 1))(post, prior)
    assert float(jnp.abs(d_dyn[0]).max()) == 0.0 and float(jnp.abs(d_dyn[1]).max()) > 0.0
    assert float(jnp.abs(d_rep[1]).max()) == 0.0 and float(jnp.abs(d_rep[0]).max()) > 0.0
    # Free bits: a KL below free_nats costs free_nats and trains nothing.
    close = prior + 1e-3
    dyn, rep = kl_balance(close, prior, free_nats=1.0)
    assert float(dyn) == float(rep) == 1.0
    grads = jax.grad(lambda a, b: sum(kl_balance(a, b)), argnums=(0, 1))(close, prior)
    assert all(float(jnp.abs(g).max()) == 0.0 for g in grads)


def test_straight_through_samples_one_hot_and_passes_the_probabilities_gradient():
    logits = jnp.array([[2.0, 0.0, -1.0], [0.0, 0.0, 0.0]])
    sample = straight_through_sample(jax.random.key(3), logits)
    np.testing.assert_allclose(sample.sum(-1), 1.0, atol=1e-6)
    assert set(np.round(np.asarray(sample), 5).ravel().tolist()) <= {0.0, 1.0}
    weights = jnp.array([1.0, 2.0, 3.0])

    def through_sample(lg):
        return jnp.sum(straight_through_sample(jax.random.key(3), lg) @ weights)

    def through_probs(lg):
        return jnp.sum(jax.nn.softmax(lg, axis=-1) @ weights)

    np.testing.assert_allclose(jax.grad(through_sample)(logits), jax.grad(through_probs)(logits))
    counts = jax.vmap(lambda k: straight_through_sample(k, logits[0]))(
        jax.random.split(jax.random.key(4), 20000)
    ).mean(0)
    np.testing.assert_allclose(counts, jax.nn.softmax(logits[0]), atol=0.02)


def test_replay_returns_by_hand_at_a_termination_and_a_time_limit():
    rewards = jnp.array([9.0, 1.0, 2.0, 3.0, 4.0])  # row t's reward leads into state t
    boot = jnp.array([10.0, 20.0, 30.0, 40.0, 50.0])
    g, lam = 0.9, 0.5
    no, yes = False, True
    # Row 3 terminates; row 4 starts the next episode.
    got, valid = replay_returns(
        rewards, jnp.array([no, no, no, yes, no]), jnp.array([yes, no, no, no, yes]), boot, g, lam
    )
    r2 = 3.0  # the step into a terminal state: its reward only
    r1 = 2.0 + g * ((1 - lam) * 30.0 + lam * r2)
    r0 = 1.0 + g * ((1 - lam) * 20.0 + lam * r1)
    np.testing.assert_allclose(got[:3], [r0, r1, r2], rtol=1e-6)
    assert valid.tolist() == [yes, yes, yes, no, no]  # state 3 is terminal, 4 ends the window
    # A time limit after row 1 (row 2 starts an episode, nothing terminated): state 0's return
    # stops at state 1's bootstrap; state 1 has no target.
    got, valid = replay_returns(
        rewards, jnp.zeros(5, bool), jnp.array([yes, no, yes, no, no]), boot, g, lam
    )
    r3 = 4.0 + g * 50.0
    r2 = 3.0 + g * ((1 - lam) * 40.0 + lam * r3)
    np.testing.assert_allclose(np.asarray(got)[[0, 2, 3]], [1.0 + g * 20.0, r2, r3], rtol=1e-6)
    assert valid.tolist() == [yes, no, yes, yes, no]


def test_lambda_returns_by_hand():
    rewards = jnp.array([1.0, 2.0, 3.0])
    values = jnp.array([10.0, 20.0, 30.0, 40.0])
    continues = jnp.array([1.0, 1.0, 1.0])
    g, lam = 0.9, 0.5
    r2 = 3.0 + g * ((1 - lam) * 40.0 + lam * 40.0)  # R_3 = v_3
    r1 = 2.0 + g * ((1 - lam) * 30.0 + lam * r2)
    r0 = 1.0 + g * ((1 - lam) * 20.0 + lam * r1)
    got = lambda_returns(rewards, values, continues, g, lam)
    np.testing.assert_allclose(got, [r0, r1, r2], rtol=1e-6)
    # lam = 0: one-step TD targets; lam = 1: the discounted return bootstrapped from v_T.
    np.testing.assert_allclose(
        lambda_returns(rewards, values, continues, g, 0.0), rewards + g * values[1:], rtol=1e-6
    )
    mc = 1.0 + g * 2.0 + g**2 * 3.0 + g**3 * 40.0
    assert float(lambda_returns(rewards, values, continues, g, 1.0)[0]) == pytest.approx(mc)
    # An episode that ended at step 1: nothing after it counts.
    ended = lambda_returns(rewards, values, jnp.array([1.0, 0.0, 1.0]), g, lam)
    assert float(ended[1]) == 2.0
    assert float(ended[0]) == pytest.approx(1.0 + g * ((1 - lam) * 20.0 + lam * 2.0))


def test_return_scale_is_an_average_percentile_range_floored_at_one():
    state = return_scale_init()
    returns = jnp.arange(101.0)  # 5th percentile 5, 95th 95: range 90
    scale, state = return_scale(state, returns)
    assert float(scale) == pytest.approx(90.0)  # the first batch is taken as it is
    scale, state = return_scale(state, returns * 0.0)
    assert float(scale) == pytest.approx(0.99 * 90.0)  # then an average with rate 0.01
    small = return_scale_init()
    scale, _ = return_scale(small, jnp.linspace(0.0, 0.1, 50))
    assert float(scale) == 1.0  # small returns are not scaled up
