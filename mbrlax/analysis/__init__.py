"""Looking at runs, models and planners: ``compare`` (tables over run directories),
``plotting`` (learning curves), ``model_plots`` (a model's predictions against the truth),
``planner_plots`` (what an MPC planner predicted and what happened; MPPI's samples), drawn
from ``planner_traces`` (the same, computed without matplotlib) and ``track_drawing`` (the
bicycle's track and car), and ``video`` (episodes recorded to mp4). Importing this package
imports nothing else."""
