"""The pre-flight: what applies to each layer of a model, and whether each step of a recipe
can run on it, found in seconds and before any training.

``edgeloop doctor MODEL [--recipe R]`` prints it (:mod:`edgeloop.doctor.command`);
``edgeloop optimize`` runs :func:`edgeloop.doctor.preflight.preflight` before the first
step and stops, in one line, at a step that cannot run. The parts are imported from their
modules (:mod:`~edgeloop.doctor.diagnose`, :mod:`~edgeloop.doctor.preflight`) so that the
CLI can register the command without loading them.
"""
