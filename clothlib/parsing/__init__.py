"""Clothing parsing: FCN models (net1, net2, effnet_fcn), training, evaluation, prediction, dense CRF."""
from .models import MODELS, build_model, describe_taps
from .train import ParsingConfig, evaluate, evaluate_checkpoint, load_checkpoint, load_or_train, predict_scores, train
from .crf import CRFParams, dense_crf, mean_field, refine, refine_split
from .crf_search import evaluate_crf, search_crf, tuned_crf_params
from .predict import predict_split
from .sweep import best_rate, lr_sweep
