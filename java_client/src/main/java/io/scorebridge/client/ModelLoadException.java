package io.scorebridge.client;

/** A model file or manifest could not be loaded, or its sha256 does not match the manifest. */
public class ModelLoadException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    public ModelLoadException(String message) {
        super(message);
    }

    public ModelLoadException(String message, Throwable cause) {
        super(message, cause);
    }
}
