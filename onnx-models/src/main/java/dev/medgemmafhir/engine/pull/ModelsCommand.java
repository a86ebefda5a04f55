package dev.medgemmafhir.engine.pull;

import dev.medgemmafhir.engine.convert.ConvertCommand;
import picocli.CommandLine.Command;

/** {@code models}: the group for model-directory chores; register it in the CLI's top command. */
@Command(name = "models",
    mixinStandardHelpOptions = true,
    description = "Manage local model directories.",
    subcommands = {PullCommand.class, ConvertCommand.class})
public class ModelsCommand {
}
