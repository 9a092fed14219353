"""Clothing parsing: FCN models (net1, net2, effnet_fcn), training, evaluation, prediction, dense CRF.

Modules, lowest first: ``config`` (ParsingConfig), ``models``, ``losses`` (pixel losses),
``inference`` (a model's probabilities and scores), ``training`` (train, release, fine-tuning),
``checkpoints`` (load, load_or_train), ``evaluation`` (a checkpoint's metrics and inference height),
``crf`` and ``crf_search``, ``predict`` (class maps of a split), ``sweep`` (paper Tables 1-2);
``__main__`` saves results.
"""
from .checkpoints import load_checkpoint, load_or_train
from .config import EVAL_HEIGHTS, ParsingConfig
from .crf import CRFParams, dense_crf, mean_field, refine, refine_split
from .crf_search import evaluate_crf, search_crf, tuned_crf_params
from .evaluation import evaluate_checkpoint, tune_eval_height
from .inference import SplitScore, evaluate, predict_scores
from .models import MODELS, build_model, describe_taps, make_model
from .predict import predict_split
from .sweep import best_rate, lr_sweep, ranked_rates
from .training import release, train
