# Runs a longctx command and checks its exit code and its standard error (one line containing
# EXPECT). Usage: cmake -DCMD="a;b;c" -DEXIT=2 -DEXPECT=text -P cli_exit_code.cmake
execute_process(COMMAND ${CMD} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL EXIT)
  message(FATAL_ERROR "exit code ${rc}, expected ${EXIT}\nstdout: ${out}\nstderr: ${err}")
endif()
# A failure's reason is on stderr; a success's result may be on stdout (tables).
string(FIND "${err}${out}" "${EXPECT}" found)
if(found EQUAL -1)
  message(FATAL_ERROR "the output does not contain '${EXPECT}':\nstdout: ${out}\nstderr: ${err}")
endif()
string(STRIP "${err}" stripped)
string(FIND "${stripped}" "\n" newline)
if(NOT newline EQUAL -1 AND EXIT EQUAL 2)
  message(FATAL_ERROR "expected one error line, got:\n${err}")
endif()
