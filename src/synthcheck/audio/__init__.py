"""Audio core: I/O, channel models, metrics and correlation."""

from synthcheck.audio.channel import AwgnChannel, Channel, ChannelChain, QuantizationChannel
from synthcheck.audio.correlation import CorrelationResult, max_normalized_xcorr
from synthcheck.audio.io import SAMPLE_RATE, load_audio, quantize_16bit, save_wav, validate_audio
from synthcheck.audio.metrics import db_x, fitted_snr_db, normalize_text, snr_db, word_error_rate

__all__ = [
    "SAMPLE_RATE", "AwgnChannel", "Channel", "ChannelChain", "CorrelationResult", "QuantizationChannel",
    "db_x", "fitted_snr_db", "load_audio", "max_normalized_xcorr", "normalize_text", "quantize_16bit",
    "save_wav", "snr_db", "validate_audio", "word_error_rate",
]
