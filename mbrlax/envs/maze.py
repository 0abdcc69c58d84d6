"""`Maze`: the grid mazes of Sutton & Barto, *Reinforcement Learning* (2nd ed.), chapter 8.

The Dyna maze (Example 8.1, Figure 8.2), the blocking maze (Example 8.2, Figure 8.4) and the
shortcut maze (Example 8.3, Figure 8.5). Cells are ``(row, col)`` counted from the top left;
the observation is the cell index ``row * cols + col``. Four actions, in this order: up, down,
right, left. A move into a wall or off the grid leaves the agent where it is. Reaching the goal
earns ``+1`` and ends the episode; every other step earns 0.

The blocking and shortcut mazes change their walls once, at a given *global* time step (1000
and 3000 in the book), counted over all episodes of a run. So :class:`MazeState` carries a
``clock`` next to the cell: :meth:`Maze.reset` starts it at 0 (a fresh run), and
:meth:`Maze.restart` puts the agent back on the start cell *keeping* the clock, which is how
a run goes on to its next episode. A maze without ``walls_after`` ignores the clock.
"""

from __future__ import annotations

import collections
from typing import NamedTuple, final

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray

from mbrlax.envs.base import EnvStep, JaxEnv
from mbrlax.envs.spec import EnvSpec

Cell = tuple[int, int]

MOVES: tuple[Cell, ...] = ((-1, 0), (1, 0), (0, 1), (0, -1))
"""``(d_row, d_col)`` of the actions up, down, right, left (the book's order)."""


class MazeState(NamedTuple):
    """Where the agent is and how many env steps the run has taken, both int32 ``[]``.

    Attributes:
        cell: the cell index ``row * cols + col``.
        clock: env steps since :meth:`Maze.reset`, over all episodes; it decides which wall
            layout is in force (``walls_after`` from ``clock >= change_at``).
    """

    cell: Int[Array, ""]
    clock: Int[Array, ""]


@final
class Maze(JaxEnv):
    """A deterministic grid maze whose walls may change once, at global step ``change_at``.

    Attributes:
        rows, cols: size of the grid.
        start: the start cell ``(row, col)`` (the book's S).
        goal: the goal cell ``(row, col)`` (G); reaching it earns +1 and ends the episode.
        walls: the wall cells in force before ``change_at``.
        walls_after: the wall cells from step ``change_at`` on; ``None`` for a fixed maze.
        change_at: the global step (the ``clock`` before a step) from which ``walls_after``
            hold: the step taken with ``clock == change_at - 1`` still sees ``walls``.
        name: the maze's name, used in ``spec.env_id``.
    """

    rows: int = eqx.field(static=True)
    cols: int = eqx.field(static=True)
    start: Cell = eqx.field(static=True)
    goal: Cell = eqx.field(static=True)
    walls: tuple[Cell, ...] = eqx.field(static=True)
    walls_after: tuple[Cell, ...] | None = eqx.field(static=True, default=None)
    change_at: int | None = eqx.field(static=True, default=None)
    name: str = eqx.field(static=True, default="Maze")

    def __check_init__(self) -> None:
        if not (isinstance(self.rows, int) and isinstance(self.cols, int)):
            raise ValueError(f"Maze rows and cols must be ints, got {self.rows!r}, {self.cols!r}.")
        if self.rows < 1 or self.cols < 1 or self.rows * self.cols < 2:
            raise ValueError(f"Maze needs at least 2 cells, got {self.rows} x {self.cols}.")
        if (self.walls_after is None) != (self.change_at is None):
            raise ValueError(
                "Maze.walls_after and Maze.change_at go together: give both (a changing maze) "
                f"or neither (a fixed one); got walls_after={self.walls_after!r}, "
                f"change_at={self.change_at!r}."
            )
        if self.change_at is not None and not (
            isinstance(self.change_at, int) and self.change_at >= 0
        ):
            raise ValueError(f"Maze.change_at must be an int >= 0, got {self.change_at!r}.")
        layouts = [self.walls] + ([self.walls_after] if self.walls_after is not None else [])
        for cell in (self.start, self.goal, *(c for layout in layouts for c in layout)):
            r, c = cell
            if not (0 <= r < self.rows and 0 <= c < self.cols):
                raise ValueError(f"Maze cell {cell!r} is off the {self.rows} x {self.cols} grid.")
        for layout in layouts:
            if self.start in layout or self.goal in layout:
                raise ValueError(f"Maze start {self.start} and goal {self.goal} must not be walls.")
        if self.start == self.goal:
            raise ValueError(f"Maze start and goal must differ, both are {self.start}.")

    @property
    def num_states(self) -> int:
        """``S = rows * cols``, the number of cell indices (walls included)."""
        return self.rows * self.cols

    @property
    def num_actions(self) -> int:
        return len(MOVES)

    @property
    def spec(self) -> EnvSpec:
        return EnvSpec(
            env_id=f"mbrlax/{self.name}-v0",
            obs_shape=(),
            action_kind="discrete",
            action_shape=(),
            num_actions=len(MOVES),
            num_states=self.num_states,
        )

    def cell_index(self, cell: Cell) -> int:
        """``row * cols + col`` of ``cell = (row, col)``."""
        return cell[0] * self.cols + cell[1]

    def wall_grid(self, after_change: bool = False) -> Bool[np.ndarray, "rows cols"]:
        """The walls before (or, with ``after_change``, after) ``change_at`` as a bool grid."""
        layout = self.walls_after if after_change and self.walls_after is not None else self.walls
        grid = np.zeros((self.rows, self.cols), dtype=bool)
        for r, c in layout:
            grid[r, c] = True
        return grid

    def reset(self, key: PRNGKeyArray) -> tuple[MazeState, Int[Array, ""]]:
        """The start cell at clock 0 (deterministic: ``key`` is unused); ``(state, obs [])``."""
        del key  # the start cell is fixed
        state = MazeState(jnp.int32(self.cell_index(self.start)), jnp.int32(0))
        return state, self.observe(state)

    def restart(self, state: MazeState) -> tuple[MazeState, Int[Array, ""]]:
        """Back to the start cell for the next episode of the same run, keeping the clock."""
        new_state = MazeState(jnp.int32(self.cell_index(self.start)), state.clock)
        return new_state, self.observe(new_state)

    def next_episode(self, state: MazeState, key: PRNGKeyArray) -> tuple[MazeState, Int[Array, ""]]:
        """:meth:`restart`: the start cell, the clock going on (how a run's episodes follow)."""
        del key  # the start cell is fixed
        return self.restart(state)

    def step(self, state: MazeState, action: Int[Array, ""]) -> EnvStep:
        """Move one cell (stay put against a wall or the border); the clock advances by one.

        ``action`` is an int in ``{0: up, 1: down, 2: right, 3: left}`` (clipped to the range).
        """
        walls = jnp.asarray(self.wall_grid(False))
        if self.walls_after is not None:
            walls = jnp.where(state.clock >= self.change_at, self.wall_grid(True), walls)
        row, col = state.cell // self.cols, state.cell % self.cols
        move = jnp.asarray(MOVES, dtype=jnp.int32)[jnp.clip(action, 0, len(MOVES) - 1)]
        new_row = jnp.clip(row + move[0], 0, self.rows - 1)
        new_col = jnp.clip(col + move[1], 0, self.cols - 1)
        blocked = walls[new_row, new_col]
        cell = jnp.where(blocked, state.cell, new_row * self.cols + new_col).astype(jnp.int32)
        at_goal = cell == self.cell_index(self.goal)
        new_state = MazeState(cell, (state.clock + 1).astype(jnp.int32))
        return EnvStep(new_state, self.observe(new_state), at_goal.astype(jnp.float32), at_goal)

    def observe(self, state: MazeState) -> Int[Array, ""]:
        """The cell index ``row * cols + col`` (int32 ``[]``)."""
        return state.cell

    def transition_tables(
        self, after_change: bool = False
    ) -> tuple[Int[np.ndarray, "S A"], Float[np.ndarray, "S A"], Bool[np.ndarray, " S"]]:
        """The MDP as numpy tables ``(next_cell [S, A], reward [S, A], terminal [S])``.

        Of the layout before (or after) the change; for oracles such as value iteration.
        """
        grid = self.wall_grid(after_change)
        nxt = np.zeros((self.num_states, len(MOVES)), dtype=np.int64)
        for s in range(self.num_states):
            r, c = divmod(s, self.cols)
            for a, (dr, dc) in enumerate(MOVES):
                nr = min(max(r + dr, 0), self.rows - 1)
                nc = min(max(c + dc, 0), self.cols - 1)
                nxt[s, a] = s if grid[nr, nc] else nr * self.cols + nc
        goal = self.cell_index(self.goal)
        terminal = np.arange(self.num_states) == goal
        return nxt, (nxt == goal).astype(np.float64), terminal


def shortest_path_length(walls: Bool[np.ndarray, "rows cols"], start: Cell, goal: Cell) -> int:
    """Fewest moves from ``start`` to ``goal`` on the grid ``walls`` (True = wall), by BFS.

    Returns ``-1`` when the goal cannot be reached. Plain numpy/Python: a test oracle.
    """
    walls = np.asarray(walls, dtype=bool)
    rows, cols = walls.shape
    distance = {tuple(start): 0}
    queue = collections.deque([tuple(start)])
    while queue:
        r, c = queue.popleft()
        if (r, c) == tuple(goal):
            return distance[(r, c)]
        for dr, dc in MOVES:
            nr, nc = r + dr, c + dc
            if 0 <= nr < rows and 0 <= nc < cols and not walls[nr, nc]:
                if (nr, nc) not in distance:
                    distance[(nr, nc)] = distance[(r, c)] + 1
                    queue.append((nr, nc))
    return -1


def dyna_maze() -> Maze:
    """The Dyna maze of Example 8.1 / Figure 8.2: 6 x 9, S at (2, 0), G at (0, 8); 14 steps."""
    return Maze(
        rows=6,
        cols=9,
        start=(2, 0),
        goal=(0, 8),
        walls=((1, 2), (2, 2), (3, 2), (4, 5), (0, 7), (1, 7), (2, 7)),
        name="DynaMaze",
    )


def blocking_maze(change_at: int = 1000) -> Maze:
    """The blocking maze of Example 8.2 / Figure 8.4: S at (5, 3), G at (0, 8).

    A wall across row 3 leaves a gap at the right end until ``change_at``; then the gap moves
    to the left end, blocking the short path (10 steps before, 16 after).
    """
    return Maze(
        rows=6,
        cols=9,
        start=(5, 3),
        goal=(0, 8),
        walls=tuple((3, c) for c in range(0, 8)),
        walls_after=tuple((3, c) for c in range(1, 9)),
        change_at=change_at,
        name="BlockingMaze",
    )


def shortcut_maze(change_at: int = 3000) -> Maze:
    """The shortcut maze of Example 8.3 / Figure 8.5: S at (5, 3), G at (0, 8).

    A wall across row 3 leaves a gap at the left end; from ``change_at`` a second gap opens at
    the right end, a shortcut (16 steps before, 10 after).
    """
    return Maze(
        rows=6,
        cols=9,
        start=(5, 3),
        goal=(0, 8),
        walls=tuple((3, c) for c in range(1, 9)),
        walls_after=tuple((3, c) for c in range(1, 8)),
        change_at=change_at,
        name="ShortcutMaze",
    )
