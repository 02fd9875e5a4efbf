"""Many runs at once, on top of ``dmdlab.training``.

- ``dmdlab.orchestration.experiments``  seeds × variants: ``run_experiment``, ``reproduce``, ``results_table``.
- ``dmdlab.orchestration.cluster``      Ray: a local cluster by default, or one by address; progress from the tasks.
- ``dmdlab.orchestration.tune``         Optuna search on the validation MAE, best settings over seeds.
- ``dmdlab.orchestration.workbench``    the class and research workbenches, the counterfactual worlds.
- ``dmdlab.orchestration.bench``        throughput and peak memory (``python -m dmdlab bench``).
"""
