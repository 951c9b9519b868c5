"""scorebridge: scikit-learn and XGBoost pipelines into Java services and nightly batch jobs.

The core package holds the model bundle contract (:mod:`scorebridge.bundle`), the input schema
(:mod:`scorebridge.schema`), the scoring engines (:mod:`scorebridge.engines`) and the CLI.
"""

__version__ = "0.1.0"
