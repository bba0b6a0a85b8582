# The layering of longctx's folders, checked on every build (CMakeLists.txt runs this script):
# a source file may include only the folders its layer may use, so an include that crosses the
# layering the wrong way fails the build with the file, the line and the rule it breaks.
#   cmake -DSOURCE_DIR=<repo> -DSTAMP=<file> -P cmake/check_layering.cmake
#
# Each rule: folder | the include prefixes its files may use, in order; a prefix written -x forbids
# x (checked where it stands). The first folder that matches a file's path decides.
set(rules
  "support/|support/"
  "kernels/common/|kernels/common/"
  "kernels/cpu/|kernels/common/ kernels/cpu/ support/"
  "kernels/cuda/|kernels/common/ kernels/cuda/ support/"
  "tokenizer/|tokenizer/ support/"
  "models/|models/ kernels/common/ tokenizer/ support/"
  # The engine sees a loaded model (model.h and what it is made of), never the file parsers.
  "engine/|engine/ models/model.h models/config.h models/architecture.h kernels/ tokenizer/ support/"
  # The applications of the engine: evaluation and the server, neither knowing the other.
  "eval/|eval/ engine/ models/model.h models/config.h models/architecture.h tokenizer/ support/"
  "serve/|serve/ engine/ models/model.h models/config.h models/architecture.h tokenizer/ support/"
  # The binary: flags and printing over every layer.
  "cmd/|cmd/ eval/ serve/ engine/ models/ kernels/ tokenizer/ support/")
# The folders an include may name: a header of the project included with <...> is checked too.
set(project_folders support/ kernels/ tokenizer/ models/ engine/ eval/ serve/ cmd/)

file(GLOB_RECURSE sources RELATIVE "${SOURCE_DIR}"
     "${SOURCE_DIR}/support/*" "${SOURCE_DIR}/kernels/*" "${SOURCE_DIR}/tokenizer/*"
     "${SOURCE_DIR}/models/*" "${SOURCE_DIR}/engine/*" "${SOURCE_DIR}/eval/*"
     "${SOURCE_DIR}/serve/*" "${SOURCE_DIR}/cmd/*")
list(FILTER sources INCLUDE REGEX "\\.(h|cpp|cu)$")
set(broken "")
foreach(src IN LISTS sources)
  set(allowed "")
  foreach(rule IN LISTS rules)
    string(FIND "${rule}" "|" bar)
    string(SUBSTRING "${rule}" 0 ${bar} folder)
    math(EXPR rest "${bar} + 1")
    string(SUBSTRING "${rule}" ${rest} -1 prefixes)
    string(FIND "${src}" "${folder}" at)
    if(at EQUAL 0)
      separate_arguments(allowed UNIX_COMMAND "${prefixes}")
      break()
    endif()
  endforeach()
  # "#include", "#  include", " # include" alike: the preprocessor takes them all.
  file(STRINGS "${SOURCE_DIR}/${src}" lines REGEX "^[ \t]*#[ \t]*include[ \t]*[\"<]")
  foreach(line IN LISTS lines)
    string(REGEX REPLACE "^[ \t]*#[ \t]*include[ \t]*[\"<]([^\">]+)[\">].*" "\\1" header "${line}")
    if(line MATCHES "^[ \t]*#[ \t]*include[ \t]*<")
      set(ours FALSE)
      foreach(folder IN LISTS project_folders)
        string(FIND "${header}" "${folder}" at)
        if(at EQUAL 0)
          set(ours TRUE)
        endif()
      endforeach()
      if(NOT ours)
        continue()
      endif()
    endif()
    set(ok FALSE)
    foreach(prefix IN LISTS allowed)
      set(deny FALSE)
      if(prefix MATCHES "^-")
        string(SUBSTRING "${prefix}" 1 -1 prefix)
        set(deny TRUE)
      endif()
      string(FIND "${header}" "${prefix}" at)
      if(at EQUAL 0)
        if(NOT deny)
          set(ok TRUE)
        endif()
        break()
      endif()
    endforeach()
    if(NOT ok)
      string(APPEND broken "  ${src}: #include \"${header}\" (its layer may include: ${allowed})\n")
    endif()
  endforeach()
endforeach()
if(broken)
  message(FATAL_ERROR "longctx layering: includes that cross the layers the wrong way:\n${broken}"
                      "See cmake/check_layering.cmake for the rules.")
endif()
file(WRITE "${STAMP}" "layering ok\n")
