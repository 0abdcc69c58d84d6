"""Pixel observations: the JAX canvas draws by coverage, a JAX-native env observed through its
frames runs under jit with its physics unchanged, Gymnasium envs are rendered and area-averaged,
``check_env`` knows frames, and agents that need vectors refuse frames saying what to use."""

import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from gymnasium import spaces

from mbrlax.envs import EnvError, check_env, make_env, make_jax_env
from mbrlax.envs.canvas import Canvas
from mbrlax.envs.pixels import PixelEnv, resize_frame
from mbrlax.models.rssm import RSSM, RSSMConfig
from mbrlax.training.experiment import EXPERIMENTS


def test_canvas_colours_inside_exactly_and_blends_the_edge():
    # A disc of radius 0.5 at the origin on [-1, 1]^2 at 8 x 8: pixel width 0.25.
    image = np.asarray(Canvas(extent=1.0, size=8).disc((0.0, 0.0), 0.5, (0, 0, 0)).image)
    assert image.dtype == np.uint8 and image.shape == (8, 8, 3)
    np.testing.assert_array_equal(image[3, 3], [0, 0, 0])  # centre (-0.125, 0.125): inside
    np.testing.assert_array_equal(image[0, 0], [255, 255, 255])  # corner: outside
    # Pixel (3, 2): centre (-0.375, 0.125), 0.105 inside the edge: 0.5 + 0.105/0.25 covered.
    cover = 0.5 - (np.hypot(-0.375, 0.125) - 0.5) / 0.25
    assert 0 < cover < 1 and abs(int(image[3, 2, 0]) - 255 * (1 - cover)) <= 1


def test_a_jax_env_observed_through_frames_keeps_its_physics_and_jits():
    vector = make_jax_env("mbrlax/Pendulum-v0")
    pixels = PixelEnv(vector, 16)
    assert pixels.spec.obs_shape == (16, 16, 3) and pixels.spec.is_image
    assert pixels.spec.obs_dtype == np.uint8

    @jax.jit
    def rollout(env, key):
        state, first = env.reset(key)

        def body(s, a):
            out = env.step(s, a)
            return out.state, (out.obs, out.reward)

        return first, jax.lax.scan(body, state, jnp.linspace(-2, 2, 10)[:, None])[1]

    first, (frames, rewards) = rollout(pixels, jax.random.key(0))
    _, (_, vector_rewards) = rollout(vector, jax.random.key(0))
    assert first.dtype == jnp.uint8 and frames.shape == (10, 16, 16, 3)
    np.testing.assert_array_equal(rewards, vector_rewards)  # same state, same physics
    assert len({bytes(np.asarray(f)) for f in frames}) > 5  # the frames follow the rod
    env = make_env("mbrlax/Pendulum-v0?pixels=16")
    obs, _ = env.reset(seed=0)
    assert obs.dtype == np.uint8 and obs.shape == (16, 16, 3)
    np.testing.assert_array_equal(obs, env.env.jax_env.observe(env.env._state))


def test_resize_frame_averages_areas():
    frame = np.arange(16 * 3, dtype=np.uint8).reshape(4, 4, 3)
    expected = frame.reshape(2, 2, 2, 2, 3).astype(float).mean((1, 3))
    np.testing.assert_array_equal(resize_frame(frame, 2), np.round(expected).astype(np.uint8))
    np.testing.assert_array_equal(resize_frame(np.full((9, 7, 3), 77, np.uint8), 4), 77)


def test_a_gymnasium_env_is_rendered_to_frames():
    env = make_env("Pendulum-v1?pixels=32")
    obs, _ = env.reset(seed=0)
    assert env.spec.obs_shape == (32, 32, 3) and obs.dtype == np.uint8
    later = [env.step(np.array([2.0], np.float32))[0] for _ in range(5)]
    assert not np.array_equal(later[-1], obs)
    assert check_env("Pendulum-v1?pixels=32") == []


@pytest.mark.parametrize(
    ("env_id", "message"),
    [
        ("mbrlax/Pendulum-v0?pixels=4", "pixels=4 is not a frame side"),
        ("mbrlax/Pendulum-v0?pixel=64", "unknown option 'pixel'; the options are pixels"),
        ("mbrlax/Catch-v0?pixels=16", "cannot draw its states inside jit"),
        ("Pendulum-v1?pixels=big", "pixels must be an integer"),
    ],
)
def test_bad_pixel_ids_say_what_to_write(env_id, message):
    with pytest.raises(EnvError, match=message):
        make_env(env_id)


class _Frames(gymnasium.Env):
    """Frames that never change (``flat``: one colour) whatever the action."""

    def __init__(self, flat):
        self.observation_space = spaces.Box(0, 255, (8, 8, 3), np.uint8)
        self.action_space = spaces.Box(-1.0, 1.0, (1,), np.float32)
        self.frame = np.zeros((8, 8, 3), np.uint8)
        if not flat:
            self.frame[2, 3] = 200

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return self.frame.copy(), {}

    def step(self, action):
        return self.frame.copy(), 0.0, False, False, {}


def test_check_env_reports_blank_and_frozen_frames():
    blank = " ".join(check_env(gymnasium.wrappers.TimeLimit(_Frames(flat=True), 10)))
    frozen = " ".join(check_env(gymnasium.wrappers.TimeLimit(_Frames(flat=False), 10)))
    assert "one flat colour" in blank and "MUJOCO_GL=egl" in blank
    assert "did not change" in frozen and "one flat colour" not in frozen


def test_agents_that_need_vectors_refuse_frames_and_the_rssm_reads_them():
    exp = EXPERIMENTS["pets"].preset("mbrlax/Pendulum-v0?pixels=16")
    with pytest.raises(ValueError, match="PETS needs vector observations.*dreamer.*planet"):
        exp.check()
    model = RSSM(RSSMConfig(deter=16, stoch=4, classes=4, units=16, depth=4), (16, 16, 3), 1)
    nets = model.init(jax.random.key(0)).nets
    frame = jnp.full((16, 16, 3), 200, jnp.uint8)
    state = model.first_state(nets, frame, jax.random.key(1))
    decoded = model.decode(nets, state)
    assert decoded.shape == (16, 16, 3) and float(decoded.min()) >= 0 and decoded.max() <= 255
    with pytest.raises(ValueError, match="power-of-two side.*pixels=64"):
        RSSM(RSSMConfig(), (48, 48, 3), 1)
