using TokenSieve.Cli;

return CliErrors.Invoke(CliApp.Root(), args);
