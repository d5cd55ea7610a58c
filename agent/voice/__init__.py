"""Voice I/O for the interviewer: speech-to-text and text-to-speech providers for livekit-agents.

The subpackage owns the offline providers (faster-whisper STT, Piper and pyttsx3/espeak-ng TTS),
the factory that picks between them and the cloud plugins, and the offline STT evaluation.
"""
