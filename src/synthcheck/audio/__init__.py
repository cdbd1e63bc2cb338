"""Audio core: I/O, channel models, metrics and correlation."""

from synthcheck.audio.io import SAMPLE_RATE, load_audio, quantize_16bit, save_wav, validate_audio

__all__ = ["SAMPLE_RATE", "load_audio", "quantize_16bit", "save_wav", "validate_audio"]
