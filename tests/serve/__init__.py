"""Tests of the serving launcher (aitk_serve) and the tiny-model factory others import."""
