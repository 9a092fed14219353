"""Clothing parsing: FCN models (net1, net2, effnet_fcn), training, evaluation, prediction."""
from .models import MODELS, build_model, describe_taps
from .train import ParsingConfig, evaluate, evaluate_checkpoint, load_checkpoint, load_or_train, predict_scores, predict_split, train
