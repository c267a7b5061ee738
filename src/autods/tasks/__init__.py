"""Task specifications (TASK.md, LAUNCH.md), loaders and validated data."""

from autods.tasks.load import Task, load_task, read_table
from autods.tasks.spec import Endpoint, LaunchSpec, TaskSpec, parse_launch_md, parse_task_md, read_specs

__all__ = ["Endpoint", "LaunchSpec", "Task", "TaskSpec", "load_task", "parse_launch_md", "parse_task_md", "read_specs", "read_table"]
