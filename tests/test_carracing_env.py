"""The fast CarRacing-v3 renderer against gymnasium's own CarRacing-v3: same seed, same actions,
whole episodes; the 84 kept rows of every state frame (hence the 64x64 frame V sees), rewards,
terminated, truncated and lengths must be identical."""

import hashlib
import importlib.metadata
import math

import gymnasium as gym
import numpy as np
import pygame
import pytest

from worldmodels.envs import make_env
from worldmodels.envs.carracing import CROP_ROWS, ENV_ID, CarRacing
from worldmodels.envs.frames import to_frame64
from worldmodels.experiments import CARRACING, DOOMRNN


def _steer_to(car, target_angle: float) -> float:
    """Steering in [-1, 1] that turns the car's heading towards `target_angle` (radians)."""
    heading = car.hull.angle + math.pi / 2
    error = (target_angle - heading + math.pi) % (2 * math.pi) - math.pi
    return float(np.clip(-2.0 * error, -1.0, 1.0))


def follow_track(env, step: int, rng) -> np.ndarray:
    """Pure pursuit of the track centre six waypoints ahead at moderate speed: laps the track."""
    u = env.unwrapped
    track = np.array([t[2:4] for t in u.track])
    pos = np.array(u.car.hull.position)
    tx, ty = track[(int(np.argmin(((track - pos) ** 2).sum(1))) + 6) % len(track)]
    speed = np.linalg.norm(u.car.hull.linearVelocity)
    return np.array([_steer_to(u.car, math.atan2(ty - pos[1], tx - pos[0])),
                     0.5 if speed < 50 else 0.0, 0.0], np.float32)


def leave_the_world(env, step: int, rng) -> np.ndarray:
    """Drives straight away from the origin across the grass until the car leaves the playfield."""
    u = env.unwrapped
    pos = np.array(u.car.hull.position)
    speed = np.linalg.norm(u.car.hull.linearVelocity)
    return np.array([0.5 * _steer_to(u.car, math.atan2(pos[1], pos[0])),
                     0.4 if speed < 60 else 0.0, 0.0], np.float32)


def random_driving(env, step: int, rng) -> np.ndarray:
    """Uniform random actions: spins, skids and wanders over grass and road."""
    return rng.uniform([-1, 0, 0], [1, 1, 1]).astype(np.float32)


def weaving(env, step: int, rng) -> np.ndarray:
    """Follows the track with a slow sinusoidal swerve and bursts of braking: on and off the road."""
    action = follow_track(env, step, rng)
    action[0] = np.clip(action[0] + math.sin(step / 15.0), -1, 1)
    action[2] = 0.8 if step % 120 > 100 else 0.0
    return action


def play_both(seed: int, policy, max_steps: int = 1000, **env_kwargs):
    """Plays one episode on gymnasium's CarRacing-v3 and on ours with the same actions (chosen from
    gymnasium's env); asserts every kept frame row and step result equal; returns the last
    (reward, terminated, truncated, info) and the episode length."""
    ours = gym.make(ENV_ID, **env_kwargs)
    theirs = gym.make("CarRacing-v3", **env_kwargs)
    obs_ours, _ = ours.reset(seed=seed)
    obs_theirs, _ = theirs.reset(seed=seed)
    np.testing.assert_array_equal(obs_ours[:CROP_ROWS], obs_theirs[:CROP_ROWS])
    rng = np.random.default_rng(seed)
    for step in range(1, max_steps + 1):
        action = policy(theirs, step, rng)
        obs_theirs, *result_theirs = theirs.step(action)
        obs_ours, *result_ours = ours.step(action)
        assert obs_ours.shape == obs_theirs.shape == (96, 96, 3)
        differ = obs_ours[:CROP_ROWS] != obs_theirs[:CROP_ROWS]
        assert not differ.any(), f"seed {seed} step {step}: {differ.any(2).sum()} pixels differ"
        assert not obs_ours[CROP_ROWS:].any()  # the indicator bar is not drawn
        assert result_ours[:3] == result_theirs[:3], f"seed {seed} step {step}"
        if result_ours[1] or result_ours[2]:
            break
    return result_theirs, step


@pytest.mark.slow
def test_a_lap_is_identical_and_ends_as_gymnasium_ends_it():
    (reward, terminated, truncated, info), steps = play_both(1, follow_track)
    assert terminated and not truncated and info["lap_finished"] and steps < 1000


@pytest.mark.slow
def test_random_driving_is_identical_over_a_whole_episode():
    (_, terminated, truncated, _), steps = play_both(0, random_driving)
    assert truncated and not terminated and steps == 1000


def test_leaving_the_playfield_is_identical():
    (reward, terminated, _, info), steps = play_both(2, leave_the_world)
    assert terminated and reward == -100 and not info["lap_finished"] and steps < 300


@pytest.mark.slow
def test_weaving_on_and_off_the_road_is_identical():
    play_both(3, weaving, max_steps=400)


def test_randomised_colours_are_identical():
    play_both(4, weaving, max_steps=150, domain_randomize=True)


def test_video_frames_are_gymnasiums():
    ours = gym.make(ENV_ID, render_mode="rgb_array")
    theirs = gym.make("CarRacing-v3", render_mode="rgb_array")
    ours.reset(seed=5)
    theirs.reset(seed=5)
    for step in range(60):
        action = follow_track(theirs, step, None)
        ours.step(action)
        theirs.step(action)
    np.testing.assert_array_equal(ours.render(), theirs.render())
    assert ours.render().shape == (400, 600, 3)


def test_make_env_gives_the_64x64_frames_of_gymnasiums_renderer():
    ours, theirs = make_env(CARRACING), make_env(CARRACING, renderer="gymnasium")
    assert type(theirs.unwrapped) is CarRacing.__mro__[1]  # gymnasium's own class
    np.testing.assert_array_equal(ours.reset(seed=6)[0], theirs.reset(seed=6)[0])
    for step in range(80):
        action = follow_track(theirs, step, None)
        frame, *result = ours.step(action)
        np.testing.assert_array_equal(frame, theirs.step(action)[0])
    np.testing.assert_array_equal(frame, to_frame64(ours.unwrapped.state, CROP_ROWS))
    assert frame.shape == (64, 64, 3) and ours.spec.max_episode_steps == 1000
    with pytest.raises(ValueError, match="unknown CarRacing renderer 'opengl'"):
        make_env(CARRACING, renderer="opengl")


@pytest.mark.parametrize("seed", [0, 1])
def test_box_filter_of_the_top_rows_ignores_the_rows_below(seed):
    """The renderer box-filters only the window's top 700 rows to 84: pygame's smoothscale of the
    whole 800-row window gives the same top 84 rows, even for pixels of pure noise."""
    pixels = np.random.default_rng(seed).integers(0, 256, (1000, 800, 3), dtype=np.uint8)
    window = pygame.surfarray.make_surface(pixels)
    whole = pygame.surfarray.array3d(pygame.transform.smoothscale(window, (96, 96)))
    top = window.subsurface((0, 0, 1000, 700))
    part = pygame.surfarray.array3d(pygame.transform.smoothscale(top, (96, CROP_ROWS)))
    np.testing.assert_array_equal(part, whole[:, :CROP_ROWS])


def _play_repeated(repeat: int, max_decisions: int = 1000) -> tuple[int, bool, list]:
    """Plays our env with action repeat `repeat` beside gymnasium's stepped every frame with the
    same actions; asserts the agent's frames, summed rewards and episode ends equal. Returns
    (environment steps, truncated, frames drawn by ours)."""
    ours = make_env(CARRACING, action_repeat=repeat)
    theirs = make_env(CARRACING, renderer="gymnasium")
    np.testing.assert_array_equal(ours.reset(seed=6)[0], theirs.reset(seed=6)[0])
    drawn = []
    ours.unwrapped.state_pixels = _counting(ours.unwrapped.state_pixels, drawn)
    steps, truncated = 0, False
    for _ in range(max_decisions):
        action = follow_track(theirs, steps, None)
        frame, reward, terminated, truncated, info = ours.step(action)
        total = 0.0
        for _ in range(info["frames"]):
            expected, r, t_theirs, tr_theirs, _ = theirs.step(action)
            total += r
        steps += info["frames"]
        np.testing.assert_array_equal(frame, expected)
        assert reward == pytest.approx(total, abs=1e-9)
        assert (terminated, truncated) == (t_theirs, tr_theirs)
        if terminated or truncated:
            break
    return steps, truncated, drawn


def test_action_repeat_sees_gymnasiums_frames_and_draws_only_those():
    """With action repeat k the agent's frames are gymnasium's frames every k steps, the frames
    in between are not drawn, and rewards are summed over the k steps."""
    steps, _, drawn = _play_repeated(3, max_decisions=40)
    assert steps == 120 and len(drawn) == 40


@pytest.mark.slow
def test_action_repeat_keeps_the_cap_in_environment_steps():
    steps, truncated, drawn = _play_repeated(2)
    assert steps == 1000 and truncated  # this driver is slow: the cap comes before the lap
    assert len(drawn) == 500


def _counting(draw, calls: list):
    def counted():
        calls.append(1)
        return draw()
    return counted


def test_action_repeat_ends_between_decisions_with_a_drawn_frame():
    env = make_env(CARRACING, action_repeat=3)
    env.reset(seed=2)
    _, _, _, truncated, info = env.step(np.array([0.0, 0.0, 0.0]))
    assert info["frames"] == 3
    for _ in range(332):
        env.step(np.array([0.0, 0.0, 0.0]))
    frame, _, _, truncated, info = env.step(np.array([0.0, 0.0, 0.0]))
    assert truncated and info["frames"] == 1  # step 1000 is the first of this decision's three
    assert frame.shape == (64, 64, 3) and frame.any()
    with pytest.raises(ValueError, match="action repeat must be >= 1"):
        make_env(CARRACING, action_repeat=0)


# Golden frames: fixed tracks played under a fixed action sequence, hashed every 20 steps. The
# shipped models were trained on frames of these releases (requirements.lock). The comparisons above
# still pass when a pygame-ce or Box2D release changes both renderers alike; fixed hashes do not.
GOLDEN_RELEASES = {"gymnasium": "1.4.0", "pygame-ce": "2.5.8", "Box2D": "2.3.10", "pillow": "13.0.0",
                   "vizdoom": "1.3.2"}
GOLDEN_EVERY = 20
# make_env(CARRACING), 120 steps: the 64x64 frames V sees.
GOLDEN_FRAMES_64 = {
    0: "498613ff4ae3e2eecabc101f12356ef40ce1a69817de82b15bbccc7080b92bd6",
    1: "9a5e9671baf6a9cca34429eb828ac03129f88f997d0dcbf97e7a8319e373404d",
    2: "05149db417e303b93391b6104087389777d5ab9327cdfe90e2d4b2db127b745e",
}
# gymnasium.make("CarRacing-v3"), 60 steps (its renderer is ~3x slower): its own 96x96 state.
GOLDEN_STATES_96 = {
    0: "527842ce378794e54e493ff3df12001609d79916396a1ebcafb0eeb71f5ec3a1",
    1: "d105647529f88d2181747d6b7ce82d2d39b95cbdbe49bb0f0c3a333bc4d0e5cb",
    2: "832b956a86e3d6a48f066b0e0cf07154e93b14a6386171559587d13ab2e9049d",
}
# make_env(DOOMRNN), reset(seed=0) and 30 steps of the actions 0, 1, 2, 0, 1, 2, ...
GOLDEN_DOOM_64 = "1d999fd36f62e0ce9597774b78a8a34dd9377980435c68d31d160886d97841f6"


def golden_action(step: int) -> np.ndarray:
    """The fixed CarRacing action of step `step`: a slow sinusoidal swerve at constant gas."""
    return np.array([math.sin(step / 10.0), 0.3, 0.0], np.float32)


def golden_hash(env, seed: int, steps: int, action=golden_action) -> str:
    """sha256 of the reset frame and every GOLDEN_EVERY-th frame of `steps` steps of `action`."""
    frames = [env.reset(seed=seed)[0]]
    for step in range(1, steps + 1):
        frame = env.step(action(step))[0]
        if step % GOLDEN_EVERY == 0:
            frames.append(frame)
    env.close()
    return hashlib.sha256(np.ascontiguousarray(np.stack(frames)).tobytes()).hexdigest()


def drift_message(game: str, names: list[str], differ: list[str]) -> str:
    """Why `game`'s frames differ from the golden hashes, naming the installed and golden releases."""
    installed = " / ".join(f"{name} {importlib.metadata.version(name)}" for name in names)
    golden = ", ".join(f"{name} {GOLDEN_RELEASES[name]}" for name in names)
    if all(importlib.metadata.version(name) == GOLDEN_RELEASES[name] for name in names):
        culprit = (f"{installed} are the releases the shipped V was trained on, so a library below "
                   "them (numpy, SDL, the platform) draws or simulates differently; reinstall from "
                   "requirements.lock")
    else:
        culprit = (f"{installed} draws or simulates differently from the release the shipped V was "
                   f"trained on ({golden}); pin them back (requirements.lock)")
    return (f"{game} frames differ from the committed golden hashes ({', '.join(differ)}): "
            f"{culprit} or retrain V")


def test_carracing_frames_match_the_golden_hashes():
    """Three tracks under a fixed action sequence give the committed frames, both the 64x64 frames
    of make_env and gymnasium's own 96x96 state."""
    differ = [f"64x64 track {seed}" for seed, expected in GOLDEN_FRAMES_64.items()
              if golden_hash(make_env(CARRACING), seed, 120) != expected]
    differ += [f"gymnasium 96x96 track {seed}" for seed, expected in GOLDEN_STATES_96.items()
               if golden_hash(gym.make("CarRacing-v3"), seed, 60) != expected]
    assert not differ, drift_message("CarRacing-v3", ["gymnasium", "pygame-ce", "Box2D", "pillow"],
                                     differ)


def test_doom_frames_match_the_golden_hash(tmp_path, monkeypatch):
    """TakeCover from seed 0 under a fixed action sequence gives the committed 64x64 frames."""
    monkeypatch.chdir(tmp_path)  # the engine writes _vizdoom/ and _vizdoom.ini here
    got = golden_hash(make_env(DOOMRNN), 0, 30, action=lambda step: step % 3)
    assert got == GOLDEN_DOOM_64, drift_message("VizdoomTakeCover-v1", ["vizdoom", "pillow"],
                                                ["64x64 frames, seed 0"])
