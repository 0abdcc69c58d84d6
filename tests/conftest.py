"""Shared test helpers (imported by the tests as ``from conftest import ...``)."""


def tiny_pets_args(episodes: int, warmup: int = 200) -> list[str]:
    """`mbrlax train pets` options for a run that takes seconds: a 2 x 16 x 16 ensemble,
    2 particles, CEM with 16 candidates over 4 steps (the planner subcommand comes last)."""
    return [
        *("--episodes", str(episodes), "--warmup-steps", str(warmup), "--eval-episodes", "1"),
        "--no-progress",
        *("--agent.model.num-members", "2", "--agent.model.num-elites", "2"),
        *("--agent.model.hidden-sizes", "16", "16", "--agent.model.max-epochs", "3"),
        *("--agent.num-particles", "2", "agent.planner:cem", "--agent.planner.horizon", "4"),
        *("--agent.planner.population", "16", "--agent.planner.num-elites", "4"),
        *("--agent.planner.iterations", "2"),
    ]


def random_play_buffer(env_id: str, n: int, seed: int = 0):
    """A replay buffer of ``n`` transitions of a JAX-native env under uniformly random
    actions, reset after each termination (as the runner would have stored them)."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from mbrlax.data.buffer import ReplayBuffer, Transition
    from mbrlax.envs import make_jax_env

    env = make_jax_env(env_id)
    key = jax.random.key(seed)
    rng = np.random.default_rng(seed)
    state, obs = env.reset(key)
    rows = []
    for i in range(n):
        action = jnp.int32(rng.integers(env.spec.num_actions))
        out = env.step(state, action)
        rows.append(Transition(obs, action, out.reward, out.obs, out.terminated))
        state, obs = out.state, out.obs
        if out.terminated:
            state, obs = env.reset(jax.random.fold_in(key, i))
    items = jax.tree.map(lambda *xs: jnp.stack(xs), *rows)
    return ReplayBuffer.create(jax.tree.map(lambda x: x[0], items), n).add_batch(items)


def resumed_from_oldest_checkpoint(run_dir, copy_to):
    """The rows of the finished run in ``run_dir`` resumed, in a copy at ``copy_to``, from its
    oldest kept checkpoint: as if the process had been killed just after writing it."""
    import shutil

    from mbrlax.training.experiment import resume

    shutil.copytree(run_dir, copy_to)
    for p in sorted((copy_to / "checkpoints").iterdir())[1:]:
        p.unlink()
    return resume(copy_to).rows


def read_video(path):
    """All frames ``uint8 [T, H, W, 3]`` and the container's fps, read back by imageio."""
    import gc
    import os
    import warnings
    from unittest import mock

    import imageio.v3 as iio

    # Without the variable imageio-ffmpeg forks with a preexec_fn, which JAX rightly warns about.
    # ResourceWarning: imageio-ffmpeg's reader closes ffmpeg's pipes only when ffmpeg is still
    # running at the end, so reading to the end leaks them (upstream; the writer is not affected).
    with (
        mock.patch.dict(os.environ, IMAGEIO_FFMPEG_NO_PREVENT_SIGINT="1"),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore", ResourceWarning)
        frames = iio.imread(path, plugin="FFMPEG", index=None)
        fps = iio.immeta(path, plugin="FFMPEG")["fps"]
        gc.collect()  # finalise the leaked pipes here, under the filter
    return frames, fps
